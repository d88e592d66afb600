// Package allocation holds the controller's allocation loop: the reconcilers that give
// Services their IPs from the configured IPAddressPools, and the shared state they
// work on. The allocator itself is pure (internal/allocator); this package adds the
// Kubernetes plumbing: reading objects from the cache, writing status, events.
package allocation

import (
	"context"
	"fmt"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
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
	// only ones retried when an IP is freed or the pools change.
	pending map[types.NamespacedName]struct{}

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
		pending:       map[types.NamespacedName]struct{}{},
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
func (s *State) adoptAllLocked(ctx context.Context, c client.Reader, skip string) error {
	if !s.loaded {
		if _, _, err := s.loadPoolsLocked(ctx, c); err != nil {
			return err
		}
	}
	var list corev1.ServiceList
	if err := c.List(ctx, &list); err != nil {
		return fmt.Errorf("listing Services: %w", err)
	}
	type held struct {
		svc *corev1.Service
		ips int
	}
	var holders []held
	for i := range list.Items {
		svc := &list.Items[i]
		if !svcinfo.IsOurs(svc, s.LBClass) || svcinfo.Key(svc) == skip {
			continue
		}
		if n := len(svcinfo.IngressIPs(svc)); n > 0 {
			holders = append(holders, held{svc, n})
		}
	}
	sort.SliceStable(holders, func(i, j int) bool { return holders[i].ips > holders[j].ips })
	var nsLabels = map[string]map[string]string{}
	for _, h := range holders {
		labels, ok := nsLabels[h.svc.Namespace]
		if !ok {
			labels = namespaceLabels(ctx, c, h.svc.Namespace)
			nsLabels[h.svc.Namespace] = labels
		}
		// A failure here is not fatal: the Service's own reconcile sees it holds no
		// allocation, re-validates and reports why.
		_, _ = s.alloc.Assign(toAllocatorService(h.svc, labels), svcinfo.IngressIPs(h.svc), "")
	}
	s.adopted = true
	return nil
}

func namespaceLabels(ctx context.Context, c client.Reader, name string) map[string]string {
	var ns corev1.Namespace
	if err := c.Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
		return nil
	}
	return ns.Labels
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

// markPending and the retry helpers keep the set of Services waiting for an IP.
func (s *State) markPendingLocked(key types.NamespacedName, pending bool) {
	if pending {
		s.pending[key] = struct{}{}
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
