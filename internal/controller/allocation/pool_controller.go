package allocation

import (
	"context"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

// PoolControllerName names the pool configuration loop.
const PoolControllerName = "pool-config"

// configKey is the single key the pool loop works on: the configuration is one
// whole (overlaps are between pools), so every pool event rebuilds all of it.
var configKey = types.NamespacedName{Name: "ipaddresspools"}

// PoolReconciler loads IPAddressPools into the allocator. Services whose IPs left
// every pool are queued to move; Services waiting for an IP are retried, since the
// new configuration may have room for them. Nothing else is reprocessed.
type PoolReconciler struct {
	Reader   client.Reader
	Recorder record.EventRecorder
	State    *State
	Metrics  *Metrics

	reported map[string]string // pool -> problem already announced in an event
}

var _ reconcile.Reconciler = &PoolReconciler{}

// Reconcile rebuilds the pool configuration.
func (r *PoolReconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	s := r.State
	s.mu.Lock()
	evicted, changed, err := s.loadPoolsLocked(ctx, r.Reader)
	if err != nil {
		s.mu.Unlock()
		return ctrl.Result{}, err
	}
	var retry []types.NamespacedName
	if changed {
		retry = s.pendingLocked()
		for _, key := range evicted {
			ns, name, _ := strings.Cut(key, "/")
			retry = append(retry, types.NamespacedName{Namespace: ns, Name: name})
		}
	}
	problems := s.problems
	names := make([]string, 0, len(s.pools))
	for n := range s.pools {
		names = append(names, n)
	}
	s.mu.Unlock()

	r.Metrics.configLoaded(len(problems) > 0)
	s.requeue(retry)
	for _, n := range names {
		s.touchPool(n)
	}
	s.pokeConfig()

	// One Warning event per distinct problem, on the pool it concerns, so the
	// owner of a bad pool sees it in `kubectl describe ipaddresspool`.
	if r.reported == nil {
		r.reported = map[string]string{}
	}
	seen := map[string]bool{}
	for _, p := range problems {
		seen[p.Object] = true
		if r.reported[p.Object] == p.Message {
			continue
		}
		r.reported[p.Object] = p.Message
		pool := &metallbv1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: p.Object}}
		if err := r.Reader.Get(ctx, client.ObjectKeyFromObject(pool), pool); err == nil {
			r.Recorder.Event(pool, "Warning", "InvalidConfiguration", p.String())
		}
	}
	for name := range r.reported {
		if !seen[name] {
			delete(r.reported, name)
		}
	}
	return ctrl.Result{}, nil
}

// SetupWithManager registers the pool loop. Status writes do not change a pool's
// generation, so the controller's own counters never retrigger it.
func (r *PoolReconciler) SetupWithManager(mgr ctrl.Manager) error {
	toConfig := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: configKey}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named(PoolControllerName).
		WatchesRawSource(sourceFor(mgr, &metallbv1beta1.IPAddressPool{}, toConfig,
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Complete(r)
}
