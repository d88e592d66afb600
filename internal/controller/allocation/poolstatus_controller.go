package allocation

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

// PoolStatusControllerName names the loop writing IPAddressPool status.
const PoolStatusControllerName = "pool-status"

// PoolStatusReconciler writes each IPAddressPool's assigned and available counts.
// While Services are being allocated in bulk it writes a pool at most once per
// MinInterval: counters lag by that much, and the API server is spared one write
// per allocation.
type PoolStatusReconciler struct {
	Client      client.Client
	State       *State
	Metrics     *Metrics
	MinInterval time.Duration

	mu        sync.Mutex
	lastWrite map[string]time.Time
}

var _ reconcile.Reconciler = &PoolStatusReconciler{}

// Reconcile writes one pool's status when it differs from the allocator's counts.
func (r *PoolStatusReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var pool metallbv1beta1.IPAddressPool
	if err := r.Client.Get(ctx, req.NamespacedName, &pool); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	stats, _ := r.State.PoolStats(pool.Name) // a pool not in use (invalid) counts zero
	want := metallbv1beta1.IPAddressPoolStatus{
		AssignedIPv4:  stats.AssignedIPv4,
		AssignedIPv6:  stats.AssignedIPv6,
		AvailableIPv4: stats.AvailableIPv4,
		AvailableIPv6: stats.AvailableIPv6,
	}
	if pool.Status == want {
		return ctrl.Result{}, nil
	}
	if wait := r.wait(pool.Name); wait > 0 {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	patch := client.MergeFrom(pool.DeepCopy())
	pool.Status = want
	if err := r.Client.Status().Patch(ctx, &pool, patch); err != nil {
		r.Metrics.updateError()
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	r.Metrics.update()
	return ctrl.Result{}, nil
}

func (r *PoolStatusReconciler) wait(pool string) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastWrite == nil {
		r.lastWrite = map[string]time.Time{}
	}
	now := time.Now()
	if last, ok := r.lastWrite[pool]; ok && now.Sub(last) < r.MinInterval {
		return r.MinInterval - now.Sub(last)
	}
	r.lastWrite[pool] = now
	return 0
}

// SetupWithManager registers the pool status loop.
func (r *PoolStatusReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.MinInterval == 0 {
		r.MinInterval = 500 * time.Millisecond
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(PoolStatusControllerName).
		For(&metallbv1beta1.IPAddressPool{}).
		WatchesRawSource(source.Channel(r.State.poolTouched, &handler.EnqueueRequestForObject{})).
		Complete(r)
}
