package allocation

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/ironlb/ironlb/internal/svcinfo"
)

// ServiceControllerName names the allocation loop in logs and metrics.
const ServiceControllerName = "service-allocation"

// ServiceReconciler gives each LoadBalancer Service of ours its IPs and writes them to
// status.loadBalancer.ingress. It is level-based: every call reads the Service as it
// is now and converges it, whatever the event that queued it.
type ServiceReconciler struct {
	Client client.Client
	Reader client.Reader // the cache; Client's reads go there too
	// APIReader reads from the API server: restart adoption, and Services whose
	// cached view is older than our own last write. Nil falls back to Reader.
	APIReader client.Reader
	Recorder  record.EventRecorder
	State     *State
	Metrics   *Metrics
	// Fence, when set, bounds every status write by the leader lease: no write is
	// sent after the lease may have passed to another replica.
	Fence Fence
}

// Fence tells until when this replica may write allocations.
type Fence interface {
	// WriteDeadline returns the instant after which another replica may lead, and
	// false when this replica does not hold the lease.
	WriteDeadline() (time.Time, bool)
}

var _ reconcile.Reconciler = &ServiceReconciler{}

func (r *ServiceReconciler) live() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Reader
}

// Reconcile converges one Service.
func (r *ServiceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	s := r.State
	s.mu.Lock()
	if err := s.adoptLocked(ctx, r.live()); err != nil {
		s.mu.Unlock()
		return ctrl.Result{}, err
	}
	s.mu.Unlock()

	var svc corev1.Service
	if err := r.Client.Get(ctx, req.NamespacedName, &svc); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	if !r.viewIsCurrent(&svc) {
		// The cache has not caught up with our own last write (or someone else
		// changed the status since): never act on an older view than the one we
		// wrote, or we would release an IP we just gave and allocate again.
		if err := r.live().Get(ctx, req.NamespacedName, &svc); err != nil {
			if apierrors.IsNotFound(err) {
				r.forget(req.NamespacedName)
				return ctrl.Result{}, nil
			}
			return ctrl.Result{}, err
		}
	}
	if svc.DeletionTimestamp != nil {
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	if !svcinfo.IsOurs(&svc, s.LBClass) {
		r.forget(req.NamespacedName)
		// A Service that stopped being a LoadBalancer loses what we wrote; one of
		// another class belongs to another controller and is left alone.
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			return ctrl.Result{}, r.writeStatus(ctx, &svc, nil, "")
		}
		return ctrl.Result{}, nil
	}

	nsLabels, err := namespaceLabels(ctx, r.Reader, r.live(), svc.Namespace)
	if err != nil {
		return ctrl.Result{}, err
	}
	s.mu.Lock()
	d := s.convergeLocked(&svc, nsLabels)
	info := pendingInfo{svc: toAllocatorService(&svc, nsLabels)}
	if pool, ok := svcinfo.Annotation(&svc, svcinfo.AnnotationAddressPool); ok && s.alloc.HasPool(pool) {
		info.pool = pool
	}
	if d.pending && len(d.ips) > 0 {
		info.pool = d.pool // PreferDualStack waiting for its second family, from its own pool
	}
	info.requested, _ = svcinfo.RequestedIPs(&svc)
	s.markPendingLocked(req.NamespacedName, d.pending, info)
	var retry []types.NamespacedName
	if d.freed {
		retry = s.pendingForLocked(d.freedIPs)
	}
	s.mu.Unlock()

	r.requeueOthers(req.NamespacedName, retry)
	for _, p := range d.touched {
		s.touchPool(p)
	}
	if err := r.writeStatus(ctx, &svc, d.ips, d.pool); err != nil {
		return ctrl.Result{}, err
	}
	// The status now shows d.ips only: the IPs the Service gave up may go to others.
	s.mu.Lock()
	freed := s.alloc.EndRelease(svcinfo.Key(&svc))
	retry = s.pendingForLocked(freed)
	s.mu.Unlock()
	r.requeueOthers(req.NamespacedName, retry)

	for _, e := range d.events {
		r.Recorder.Event(&svc, e.Type, e.Reason, e.Message)
	}
	if len(d.ips) > 0 {
		if legacy := svcinfo.LegacyAnnotations(&svc); len(legacy) > 0 && hasEvent(d.events, ReasonIPAllocated) {
			r.Recorder.Eventf(&svc, corev1.EventTypeWarning, ReasonDeprecatedAnnotation,
				"Service uses deprecated annotation %s: rename it to the metallb.io/ prefix", legacy[0])
		}
	}
	return ctrl.Result{}, nil
}

func (r *ServiceReconciler) requeueOthers(self types.NamespacedName, keys []types.NamespacedName) {
	if len(keys) > 0 {
		r.State.requeue(slices.DeleteFunc(keys, func(k types.NamespacedName) bool { return k == self }))
	}
}

// viewIsCurrent reports whether svc is not older than our last status write for it:
// it is the object that write returned, or it shows what we wrote.
func (r *ServiceReconciler) viewIsCurrent(svc *corev1.Service) bool {
	s := r.State
	s.mu.Lock()
	w, ok := s.written[svcKey(svc)]
	s.mu.Unlock()
	return !ok || w.resourceVersion == svc.ResourceVersion || slices.Equal(w.ingress, svcinfo.IngressIPsStrings(svc))
}

// forget releases a Service's IPs when it is gone or no longer ours, and retries the
// Services that were waiting for one of them.
func (r *ServiceReconciler) forget(key types.NamespacedName) {
	s := r.State
	s.mu.Lock()
	pool, _, had := s.alloc.Get(key.Namespace + "/" + key.Name)
	s.markPendingLocked(key, false, pendingInfo{})
	delete(s.written, key)
	freed := s.alloc.Release(key.Namespace + "/" + key.Name)
	retry := s.pendingForLocked(freed)
	s.mu.Unlock()
	if had {
		s.touchPool(pool)
	}
	s.requeue(retry)
}

// writeStatus makes status.loadBalancer.ingress and the pool annotation say ips and
// pool, writing only what differs.
func (r *ServiceReconciler) writeStatus(ctx context.Context, svc *corev1.Service, ips []netip.Addr, pool string) error {
	wantIngress := make([]corev1.LoadBalancerIngress, 0, len(ips))
	for _, ip := range ips {
		wantIngress = append(wantIngress, corev1.LoadBalancerIngress{IP: ip.String()})
	}
	haveIngress := svc.Status.LoadBalancer.Ingress
	havePool, hasPool := svc.Annotations[svcinfo.PoolAnnotationKey]
	ingressOK := ingressEqual(haveIngress, wantIngress)
	annotationOK := (pool == "" && !hasPool) || (pool != "" && havePool == pool)
	if ingressOK && annotationOK {
		return nil
	}

	// One write through the status subresource carries both: the API server keeps
	// metadata changes made there for Services, which is how MetalLB writes them too,
	// and one write per allocation is half the load of two.
	patch := client.MergeFrom(svc.DeepCopy())
	if !annotationOK {
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		if pool == "" {
			delete(svc.Annotations, svcinfo.PoolAnnotationKey)
		} else {
			svc.Annotations[svcinfo.PoolAnnotationKey] = pool
		}
	}
	svc.Status.LoadBalancer.Ingress = wantIngress
	if len(wantIngress) == 0 {
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	}
	wctx := ctx
	if r.Fence != nil {
		deadline, ok := r.Fence.WriteDeadline()
		if !ok || !time.Now().Before(deadline) {
			return fmt.Errorf("not writing the status of %s/%s: this replica no longer holds the leader lease", svc.Namespace, svc.Name)
		}
		// A request still unsent when the lease may have passed is abandoned.
		var cancel context.CancelFunc
		wctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	if err := r.Client.Status().Patch(wctx, svc, patch); err != nil {
		r.Metrics.updateError()
		return fmt.Errorf("writing status.loadBalancer and the %s annotation: %w", svcinfo.PoolAnnotationKey, err)
	}
	r.Metrics.update()
	s := r.State
	s.mu.Lock()
	s.written[svcKey(svc)] = writtenStatus{resourceVersion: svc.ResourceVersion, ingress: svcinfo.IngressIPsStrings(svc)}
	s.mu.Unlock()
	return nil
}

func ingressEqual(have, want []corev1.LoadBalancerIngress) bool {
	if len(have) != len(want) {
		return false
	}
	for i := range have {
		if have[i].IP != want[i].IP || have[i].Hostname != "" {
			return false
		}
	}
	return true
}

func hasEvent(events []Event, reason string) bool {
	for _, e := range events {
		if e.Reason == reason {
			return true
		}
	}
	return false
}

// SetupWithManager registers the allocation loop. Workers run in parallel: the
// allocator work is under one short lock, the API writes are not.
func (r *ServiceReconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named(ServiceControllerName).
		For(&corev1.Service{}, builder.WithPredicates(serviceChanged())).
		WatchesRawSource(source.Channel(r.State.retry, &handler.EnqueueRequestForObject{})).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.servicesInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(r)
}

// servicesInNamespace re-checks every Service of a namespace whose labels changed:
// a pool's namespaceSelectors may now admit a waiting Service, or no longer admit
// an allocated one, which then moves (its old IP stays reserved until its status
// drops it). Doing it now, not at the next restart, is what keeps a restart from
// moving any IP.
func (r *ServiceReconciler) servicesInNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	var list corev1.ServiceList
	if err := r.Reader.List(ctx, &list, client.InNamespace(obj.GetName())); err != nil {
		// The cache lists from memory; fall back to the waiting Services.
		s := r.State
		s.mu.Lock()
		defer s.mu.Unlock()
		var out []reconcile.Request
		for k := range s.pending {
			if k.Namespace == obj.GetName() {
				out = append(out, reconcile.Request{NamespacedName: k})
			}
		}
		return out
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		if svcinfo.IsOurs(&list.Items[i], r.State.LBClass) {
			out = append(out, reconcile.Request{NamespacedName: svcKey(&list.Items[i])})
		}
	}
	return out
}

// serviceChanged skips updates that cannot change the allocation, chiefly the
// status and annotation writes the controller makes itself.
func serviceChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			o, ok1 := e.ObjectOld.(*corev1.Service)
			n, ok2 := e.ObjectNew.(*corev1.Service)
			if !ok1 || !ok2 {
				return true
			}
			if !apiequality.Semantic.DeepEqual(o.Spec, n.Spec) || !slices.Equal(svcinfo.IngressIPsStrings(o), svcinfo.IngressIPsStrings(n)) {
				return true
			}
			if !mapsEqual(o.Labels, n.Labels) || n.DeletionTimestamp != nil {
				return true
			}
			return !metallbAnnotationsEqual(o.Annotations, n.Annotations)
		},
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func metallbAnnotationsEqual(a, b map[string]string) bool {
	for _, name := range []string{svcinfo.AnnotationAddressPool, svcinfo.AnnotationLoadBalancerIPs, svcinfo.AnnotationAllowSharedIP, svcinfo.AnnotationAllocatedFromPool} {
		for _, prefix := range []string{svcinfo.Prefix, svcinfo.LegacyPrefix} {
			va, oka := a[prefix+name]
			vb, okb := b[prefix+name]
			if oka != okb || va != vb {
				return false
			}
		}
	}
	return true
}
