package allocation

import (
	"context"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

// ConfigurationStateName is the object the controller reports its configuration in,
// as MetalLB names it.
const ConfigurationStateName = "controller"

// ConfigStateControllerName names the ConfigurationState loop.
const ConfigStateControllerName = "configuration-state"

// ConfigStateReconciler keeps the ConfigurationState "controller" saying whether the
// configuration loaded and, if not, what is wrong with which object.
type ConfigStateReconciler struct {
	Client client.Client
	State  *State
}

var _ reconcile.Reconciler = &ConfigStateReconciler{}

// Reconcile writes ConfigurationState/controller.
func (r *ConfigStateReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	loaded, problems := r.State.Problems()
	if !loaded {
		return ctrl.Result{}, nil
	}
	var cs metallbv1beta1.ConfigurationState
	key := client.ObjectKey{Namespace: r.State.Namespace, Name: ConfigurationStateName}
	if err := r.Client.Get(ctx, key, &cs); err != nil {
		if !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		cs = metallbv1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{"metallb.io/component-type": "controller"},
		}}
		if err := r.Client.Create(ctx, &cs); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, err
		}
		if err := r.Client.Get(ctx, key, &cs); err != nil {
			return ctrl.Result{}, err
		}
	}
	before := cs.Status.DeepCopy()
	msgs := make([]string, 0, len(problems))
	for _, p := range problems {
		msgs = append(msgs, p.String())
	}
	cs.Status.ErrorSummary = strings.Join(msgs, "\n")
	pool := metav1.Condition{Type: "poolReconcilerValid", Status: metav1.ConditionTrue, Reason: "Reconciled", Message: "all IPAddressPools are in use"}
	cs.Status.Result = "Valid"
	if len(problems) > 0 {
		cs.Status.Result = "Invalid"
		pool.Status, pool.Reason, pool.Message = metav1.ConditionFalse, "ConfigurationError", cs.Status.ErrorSummary
	}
	meta.SetStatusCondition(&cs.Status.Conditions, metav1.Condition{Type: "configReconcilerValid", Status: metav1.ConditionTrue, Reason: "Reconciled", Message: "configuration loaded"})
	meta.SetStatusCondition(&cs.Status.Conditions, pool)
	if apiequality.Semantic.DeepEqual(*before, cs.Status) {
		return ctrl.Result{}, nil
	}
	return ctrl.Result{}, r.Client.Status().Update(ctx, &cs)
}

// SetupWithManager registers the loop; it runs when the pool loop reloads.
func (r *ConfigStateReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(ConfigStateControllerName).
		WatchesRawSource(source.Channel(r.State.configChanged, &handler.EnqueueRequestForObject{})).
		Complete(r)
}
