package allocation

import (
	"context"
	"errors"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/allocator"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/ipnet"
	"github.com/ironlb/ironlb/internal/svcinfo"
)

// DryRun is what the controller would decide for one Service right now.
type DryRun struct {
	IPs      []netip.Addr
	Pool     string
	Pending  bool
	Err      error // why the Service gets no IP
	Events   []Event
	Problems []config.Problem
	// Pools lists every usable pool with its counters, for explanations.
	Pools []PoolSummary
}

// PoolSummary is one pool as the allocator sees it.
type PoolSummary struct {
	Name       string
	AutoAssign bool
	Ranges     []string
	Stats      allocator.Stats
}

// DryRunFor rebuilds the controller's state from the API (pools, every Service's
// IPs, adopted as on a restart) and converges one Service in it without writing
// anything. It runs the same code as the controller, so its answer is the
// controller's answer, not a guess. The caller's copy of svc is not changed.
func DryRunFor(ctx context.Context, c client.Reader, namespace, lbClass string, svc *corev1.Service) (DryRun, error) {
	s := NewState(namespace, lbClass)
	s.mu.Lock()
	defer s.mu.Unlock()
	// Adopt every Service but the one being explained: its own IPs, if any, are
	// re-validated by convergeLocked exactly as the controller would.
	if err := s.adoptAllLocked(ctx, c, svcinfo.Key(svc)); err != nil {
		return DryRun{}, err
	}
	nsLabels, err := namespaceLabels(ctx, c, nil, svc.Namespace)
	if err != nil {
		return DryRun{}, err
	}
	d := s.convergeLocked(svc.DeepCopy(), nsLabels)
	out := DryRun{IPs: d.ips, Pool: d.pool, Pending: d.pending, Err: d.err, Events: d.events, Problems: s.problems}
	for _, name := range s.alloc.PoolNames() {
		p := s.pools[name]
		sum := PoolSummary{Name: name, AutoAssign: p.AutoAssign, Stats: s.alloc.PoolStats(name)}
		for _, r := range p.Ranges {
			sum.Ranges = append(sum.Ranges, ipnet.String(r))
		}
		out.Pools = append(out.Pools, sum)
	}
	return out, nil
}

// Hint says what to do about an allocation failure, by its kind.
func Hint(err error) string {
	switch {
	case errors.Is(err, allocator.ErrNotAllowed):
		return "the requested IP is in no IPAddressPool (or not in the named one): request an IP from a pool's spec.addresses, or add it to a pool"
	case errors.Is(err, allocator.ErrNoAvailableIPs):
		return "every pool this Service may use is full: widen a pool's spec.addresses, add a pool, or free an IP; the Service gets one as soon as there is room"
	case errors.Is(err, allocator.ErrNotCompatible):
		return "the pool's spec.serviceAllocation (namespaces, namespaceSelectors, serviceSelectors) does not admit this Service"
	case errors.Is(err, allocator.ErrPortInUse):
		return "another Service on that IP uses the same protocol and port: change the port or the IP"
	case errors.Is(err, allocator.ErrSharing):
		return "Services share an IP only with the same metallb.io/allow-shared-ip key and, with externalTrafficPolicy Local, the same selector"
	case errors.Is(err, allocator.ErrFamily):
		return "the requested IPs do not match spec.ipFamilies: request one IP per family the Service has"
	}
	return ""
}
