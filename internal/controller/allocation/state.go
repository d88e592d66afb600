// Package allocation holds the controller's allocation loop: the reconcilers that give
// Services their IPs from the configured IPAddressPools, and the shared state they
// work on. The allocator itself is pure (internal/allocator); this package adds the
// Kubernetes plumbing: reading objects from the cache, writing status, events.
package allocation

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/allocator"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/svcinfo"
)

// State is what the reconcilers share: the allocator, the pool configuration it was
// built from, and the Services waiting for an IP. One mutex guards all of it; every
// operation under it is in-memory and short, and API writes happen outside it.
type State struct {
	Namespace string // where the metallb.io objects live
	LBClass   string

	mu       sync.Mutex
	alloc    *allocator.Allocator
	pools    map[string]allocator.Pool
	lastGood config.LastGood
	problems []config.Problem
	loaded   bool
	adopted  bool
	// pending holds Services that wanted an IP and did not get one; they are the
	// only ones retried when an IP is freed or the pools change, and a freed IP
	// retries only those that could use it (pendingFor).
	pending map[types.NamespacedName]pendingInfo
	// written is the ingress this controller last wrote per Service and the
	// resourceVersion the write returned: a reconcile whose cached view shows
	// something else may be reading an older object than our own write, and
	// re-reads the Service from the API server before acting on it.
	written map[types.NamespacedName]writtenStatus

	// retry feeds Service keys back into the service controller's queue.
	retry chan event.GenericEvent
	// poolTouched feeds pool names into the pool status controller's queue.
	poolTouched chan event.GenericEvent
	// configChanged pokes the ConfigurationState controller.
	configChanged chan event.GenericEvent
}

// NewState returns empty state for the metallb.io objects in namespace.
func NewState(namespace, lbClass string) *State {
	return &State{
		Namespace:     namespace,
		LBClass:       lbClass,
		alloc:         allocator.New(),
		pools:         map[string]allocator.Pool{},
		lastGood:      config.LastGood{},
		pending:       map[types.NamespacedName]pendingInfo{},
		written:       map[types.NamespacedName]writtenStatus{},
		retry:         make(chan event.GenericEvent, 4096),
		poolTouched:   make(chan event.GenericEvent, 4096),
		configChanged: make(chan event.GenericEvent, 16),
	}
}

// loadPoolsLocked rebuilds the pool configuration from the cache and hands it to the
// allocator. It returns the Services whose IPs left every pool (they must be moved).
func (s *State) loadPoolsLocked(ctx context.Context, c client.Reader) ([]string, bool, error) {
	var list metallbv1beta1.IPAddressPoolList
	if err := c.List(ctx, &list, client.InNamespace(s.Namespace)); err != nil {
		return nil, false, fmt.Errorf("listing IPAddressPools: %w", err)
	}
	items := make([]metallbv1beta1.IPAddressPool, 0, len(list.Items))
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			items = append(items, p)
		}
	}
	res, next := config.BuildPools(items, s.lastGood)
	s.lastGood = next
	pools := res.Pools.Allocator()
	changed := !s.loaded || !samePools(s.pools, pools)
	s.problems = res.Problems
	s.loaded = true
	if !changed {
		return nil, false, nil
	}
	s.pools = make(map[string]allocator.Pool, len(pools))
	for _, p := range pools {
		s.pools[p.Name] = p
	}
	return s.alloc.SetPools(pools), true, nil
}

// samePools compares pool configurations by value; selectors are compared by
// their source, which the caller guarantees by rebuilding only when specs change.
func samePools(old map[string]allocator.Pool, pools []allocator.Pool) bool {
	if len(old) != len(pools) {
		return false
	}
	for _, p := range pools {
		o, ok := old[p.Name]
		if !ok || o.AutoAssign != p.AutoAssign || o.AvoidBuggyIPs != p.AvoidBuggyIPs || len(o.Ranges) != len(p.Ranges) {
			return false
		}
		for i := range p.Ranges {
			if o.Ranges[i] != p.Ranges[i] {
				return false
			}
		}
		if (o.Allocation == nil) != (p.Allocation == nil) {
			return false
		}
		if p.Allocation != nil {
			// Selectors are functions and cannot be compared: any pool with a
			// serviceAllocation counts as changed, which only costs a SetPools.
			return false
		}
	}
	return true
}

// adoptLocked re-claims, before any Service is served, every IP already written in
// Service status, so a restart never hands an in-use IP to someone else. Services
// with more IPs go first, as MetalLB does, so a dual-stack Service keeps both.
func (s *State) adoptLocked(ctx context.Context, c client.Reader) error {
	if s.adopted {
		return nil
	}
	return s.adoptAllLocked(ctx, c, "")
}

// adoptAllLocked adopts every Service's IPs but skip's ("ns/name"; "" skips none).
// c should read from the API server, not an informer cache: after a leader
// handover the cache may not yet hold the old leader's last writes, and an IP
// missed here could be handed to a second Service.
func (s *State) adoptAllLocked(ctx context.Context, c client.Reader, skip string) error {
	if !s.loaded {
		if _, _, err := s.loadPoolsLocked(ctx, c); err != nil {
			return err
		}
	}
	type held struct {
		svc *corev1.Service
		ips int
	}
	var holders []held
	// Pages keep each response small with 50,000 Services.
	opts := []client.ListOption{client.Limit(2000)}
	for {
		var list corev1.ServiceList
		if err := c.List(ctx, &list, opts...); err != nil {
			return fmt.Errorf("listing Services: %w", err)
		}
		for i := range list.Items {
			svc := &list.Items[i]
			if !svcinfo.IsOurs(svc, s.LBClass) || svcinfo.Key(svc) == skip {
				continue
			}
			if n := len(svcinfo.IngressIPs(svc)); n > 0 {
				holders = append(holders, held{svc, n})
			}
		}
		if list.Continue == "" {
			break
		}
		opts = []client.ListOption{client.Limit(2000), client.Continue(list.Continue)}
	}
	sort.SliceStable(holders, func(i, j int) bool { return holders[i].ips > holders[j].ips })
	var nsLabels = map[string]map[string]string{}
	for _, h := range holders {
		labels, ok := nsLabels[h.svc.Namespace]
		if !ok {
			var err error
			labels, err = namespaceLabels(ctx, c, nil, h.svc.Namespace)
			if err != nil {
				return err
			}
			nsLabels[h.svc.Namespace] = labels
		}
		// A failure here is not fatal: the Service's own reconcile sees it holds no
		// allocation, re-validates and reports why. Its IPs are reserved all the
		// same, as releasing, so nobody else gets them while its status shows them.
		asvc := toAllocatorService(h.svc, labels)
		if _, err := s.alloc.Assign(asvc, svcinfo.IngressIPs(h.svc), ""); err != nil {
			s.alloc.Hold(asvc, svcinfo.IngressIPs(h.svc))
		}
	}
	s.adopted = true
	return nil
}

// namespaceLabels reads a namespace's labels from c, falling back to live (the API
// server) when c does not know the namespace yet: a Namespace missing from a cache
// that has not caught up must not read as "no labels", which would let a tenant's
// Service into a pool meant for others. An error means "do not decide now".
func namespaceLabels(ctx context.Context, c, live client.Reader, name string) (map[string]string, error) {
	var ns corev1.Namespace
	err := c.Get(ctx, types.NamespacedName{Name: name}, &ns)
	if apierrors.IsNotFound(err) && live != nil {
		err = live.Get(ctx, types.NamespacedName{Name: name}, &ns)
	}
	switch {
	case apierrors.IsNotFound(err):
		// A Service cannot outlive its namespace for long; it is being deleted.
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading the labels of namespace %q: %w", name, err)
	}
	return ns.Labels, nil
}

// toAllocatorService is the one place a Service becomes the allocator's view of it.
func toAllocatorService(svc *corev1.Service, nsLabels map[string]string) allocator.Service {
	sharing, _ := svcinfo.Annotation(svc, svcinfo.AnnotationAllowSharedIP)
	fams, policy := svcinfo.Families(svc)
	out := allocator.Service{
		Key:             svcinfo.Key(svc),
		Namespace:       svc.Namespace,
		Labels:          svc.Labels,
		NamespaceLabels: nsLabels,
		SharingKey:      sharing,
		BackendKey:      svcinfo.BackendKey(svc),
	}
	for _, p := range svcinfo.Ports(svc) {
		out.Ports = append(out.Ports, allocator.Port{Protocol: p.Protocol, Port: p.Port})
	}
	for _, f := range fams {
		if f == svcinfo.IPv6 {
			out.Families = append(out.Families, allocator.IPv6)
		} else {
			out.Families = append(out.Families, allocator.IPv4)
		}
	}
	switch policy {
	case corev1.IPFamilyPolicyPreferDualStack:
		out.DualStack = allocator.PreferDualStack
	case corev1.IPFamilyPolicyRequireDualStack:
		out.DualStack = allocator.RequireDualStack
	default:
		out.DualStack = allocator.SingleStack
	}
	return out
}

// pendingInfo is what a waiting Service could use: the pools that admit it.
type pendingInfo struct {
	svc       allocator.Service
	pool      string       // the address-pool annotation, "" = any auto-assign pool
	requested []netip.Addr // requested IPs, if any
}

type writtenStatus struct {
	resourceVersion string
	ingress         []string
}

// markPendingLocked records whether the Service waits for an IP, and what it could use.
func (s *State) markPendingLocked(key types.NamespacedName, pending bool, info pendingInfo) {
	if pending {
		s.pending[key] = info
	} else {
		delete(s.pending, key)
	}
}

// pendingLocked copies the waiting Services' keys.
func (s *State) pendingLocked() []types.NamespacedName {
	out := make([]types.NamespacedName, 0, len(s.pending))
	for k := range s.pending {
		out = append(out, k)
	}
	return out
}

// pendingForLocked returns the waiting Services that could use one of the freed
// IPs: each freed IP is retried only by Services its pool admits, not by every
// waiting Service (with 10,000 waiting, one delete used to requeue 10,000).
func (s *State) pendingForLocked(freed []netip.Addr) []types.NamespacedName {
	if len(freed) == 0 || len(s.pending) == 0 {
		return nil
	}
	pools := map[string]bool{}
	for _, ip := range freed {
		if p, ok := s.alloc.PoolForIP(ip); ok {
			pools[p] = true
		}
	}
	var out []types.NamespacedName
	for k, info := range s.pending {
		if len(info.requested) > 0 {
			if slices.ContainsFunc(info.requested, func(ip netip.Addr) bool { return slices.Contains(freed, ip) }) {
				out = append(out, k)
			}
			continue
		}
		for p := range pools {
			if info.pool != "" && info.pool != p {
				continue
			}
			if admits, auto := s.alloc.Admits(p, info.svc); admits && (auto || info.pool == p) {
				out = append(out, k)
				break
			}
		}
	}
	return out
}

// requeue puts Services back on the service controller's queue. It never blocks
// the caller for long: the channel source drains into an unbounded work queue.
func (s *State) requeue(keys []types.NamespacedName) {
	for _, k := range keys {
		s.retry <- event.GenericEvent{Object: &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: k.Namespace, Name: k.Name}}}
	}
}

// touchPool asks the pool status controller to refresh a pool's counters.
func (s *State) touchPool(name string) {
	if name == "" {
		return
	}
	select {
	case s.poolTouched <- event.GenericEvent{Object: &metallbv1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: name}}}:
	default:
		// The queue is far behind; the pool is certainly already queued.
	}
}

func (s *State) pokeConfig() {
	select {
	case s.configChanged <- event.GenericEvent{Object: &metallbv1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: ConfigurationStateName}}}:
	default:
	}
}

// PoolStats returns the counters of one pool, for status and metrics.
func (s *State) PoolStats(name string) (allocator.Stats, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pools[name]; !ok {
		return allocator.Stats{}, false
	}
	return s.alloc.PoolStats(name), true
}

// PoolNames lists the pools in use.
func (s *State) PoolNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.pools))
	for n := range s.pools {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Problems returns the configuration problems found at the last load.
func (s *State) Problems() (loaded bool, problems []config.Problem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loaded, append([]config.Problem(nil), s.problems...)
}
