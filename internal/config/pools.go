package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go4.org/netipx"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/allocator"
	"github.com/ironlb/ironlb/internal/ipnet"
)

// Pool is a usable IPAddressPool.
type Pool struct {
	allocator.Pool // Name, Ranges, AutoAssign, AvoidBuggyIPs, Allocation
	// Labels are the object's current labels (ipAddressPoolSelectors match
	// them), even when the spec in use is the last good one.
	Labels  map[string]string
	Created metav1.Time
	// Spec is the spec in use: the object's, or its last good one.
	Spec metallbv1beta1.IPAddressPoolSpec
	// KeptLastGood: the object's current spec is bad and Spec is the previous one.
	KeptLastGood bool
}

// Contains reports whether ip lies in one of the pool's ranges.
func (p *Pool) Contains(ip netip.Addr) bool {
	for _, r := range p.Ranges {
		if r.Contains(ip) {
			return true
		}
	}
	return false
}

// Pools are usable pools in precedence order (oldest first, then by name).
// Their ranges never overlap, so an IP belongs to at most one.
type Pools []Pool

// Of returns the pool holding every one of ips, or nil (none, or the IPs are
// in different pools, which no allocation ever does).
func (ps Pools) Of(ips ...netip.Addr) *Pool {
	if len(ips) == 0 {
		return nil
	}
	for i := range ps {
		if !ps[i].Contains(ips[0]) {
			continue
		}
		for _, ip := range ips[1:] {
			if !ps[i].Contains(ip) {
				return nil
			}
		}
		return &ps[i]
	}
	return nil
}

// Named returns the pool called name, or nil.
func (ps Pools) Named(name string) *Pool {
	for i := range ps {
		if ps[i].Name == name {
			return &ps[i]
		}
	}
	return nil
}

// Allocator returns the allocator's view of the pools, in the same order.
func (ps Pools) Allocator() []allocator.Pool {
	out := make([]allocator.Pool, len(ps))
	for i := range ps {
		out[i] = ps[i].Pool
	}
	return out
}

// LastGood remembers, per pool name, the last spec that was valid, so that a
// bad edit can fall back to it. Both binaries keep one across calls, so both
// fall back the same way.
type LastGood map[string]metallbv1beta1.IPAddressPoolSpec

// PoolsResult is what BuildPools returns.
type PoolsResult struct {
	Pools    Pools
	Problems []Problem
}

// BuildPools converts pools in a deterministic order (oldest first, then the
// ones accepted by the previous build, then by name) so that, when two pools overlap, the one that was there first keeps its
// addresses and the newcomer is the one reported: a newer pool whose name sorts
// first never takes an IP in use. A pool that was good and is edited into a bad
// state (bad address, new overlap) keeps its last good spec, so a typo never
// moves an IP in use. Pools being deleted are left out.
func BuildPools(crs []metallbv1beta1.IPAddressPool, last LastGood) (PoolsResult, LastGood) {
	sorted := make([]*metallbv1beta1.IPAddressPool, 0, len(crs))
	for i := range crs {
		if crs[i].DeletionTimestamp == nil {
			sorted = append(sorted, &crs[i])
		}
	}
	slices.SortStableFunc(sorted, func(a, b *metallbv1beta1.IPAddressPool) int {
		ta, tb := a.CreationTimestamp, b.CreationTimestamp
		if !ta.Equal(&tb) {
			if ta.Before(&tb) {
				return -1
			}
			return 1
		}
		// Creation times have one-second resolution: of two pools created in
		// the same second, the one already in use (accepted by the previous
		// build) stays first, so a newcomer never takes its addresses.
		_, aIn := last[a.Name]
		_, bIn := last[b.Name]
		if aIn != bIn {
			if aIn {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})

	var res PoolsResult
	next := LastGood{}
	for _, cr := range sorted {
		c := Pool{Labels: cr.Labels, Created: cr.CreationTimestamp, Spec: cr.Spec}
		pool, err := convertPool(cr.Name, cr.Spec)
		if err == nil {
			if other := overlapping(pool, res.Pools); other != nil {
				err = fmt.Errorf("spec.addresses overlap IPAddressPool %q (%s); every address may belong to one pool only: remove the overlap from one of them", other.Name, describeOverlap(pool, other.Pool))
			}
		}
		if err != nil {
			if prev, had := last[cr.Name]; had {
				if prevPool, perr := convertPool(cr.Name, prev); perr == nil && overlapping(prevPool, res.Pools) == nil {
					c.Pool, c.Spec, c.KeptLastGood = prevPool, prev, true
					res.Pools = append(res.Pools, c)
					next[cr.Name] = prev
					res.Problems = append(res.Problems, Problem{Kind: KindIPAddressPool, Object: cr.Name, Message: err.Error(), KeptLastGood: true})
					continue
				}
			}
			res.Problems = append(res.Problems, Problem{Kind: KindIPAddressPool, Object: cr.Name, Message: err.Error()})
			continue
		}
		c.Pool = pool
		res.Pools = append(res.Pools, c)
		next[cr.Name] = cr.Spec
	}
	return res, next
}

func overlapping(p allocator.Pool, accepted Pools) *Pool {
	for i := range accepted {
		for _, a := range p.Ranges {
			for _, b := range accepted[i].Ranges {
				if a.Overlaps(b) {
					return &accepted[i]
				}
			}
		}
	}
	return nil
}

func describeOverlap(p, q allocator.Pool) string {
	for _, a := range p.Ranges {
		for _, b := range q.Ranges {
			if a.Overlaps(b) {
				lo, hi := a.From(), a.To()
				if b.From().Compare(lo) > 0 {
					lo = b.From()
				}
				if b.To().Compare(hi) < 0 {
					hi = b.To()
				}
				return netipx.IPRangeFrom(lo, hi).String() + " is in both"
			}
		}
	}
	return ""
}

func convertPool(name string, spec metallbv1beta1.IPAddressPoolSpec) (allocator.Pool, error) {
	ranges, err := ipnet.ParseAddresses(spec.Addresses)
	if err != nil {
		return allocator.Pool{}, err
	}
	pool := allocator.Pool{
		Name:          name,
		Ranges:        ranges,
		AutoAssign:    spec.AutoAssign == nil || *spec.AutoAssign,
		AvoidBuggyIPs: spec.AvoidBuggyIPs,
	}
	if a := spec.AllocateTo; a != nil {
		pa := &allocator.PoolAllocation{Priority: a.Priority, Namespaces: a.Namespaces}
		for i := range a.NamespaceSelectors {
			s, err := metav1.LabelSelectorAsSelector(&a.NamespaceSelectors[i])
			if err != nil {
				return allocator.Pool{}, fmt.Errorf("invalid spec.serviceAllocation.namespaceSelectors[%d]: %v", i, err)
			}
			pa.NamespaceSelectors = append(pa.NamespaceSelectors, selectorFunc(s))
		}
		for i := range a.ServiceSelectors {
			s, err := metav1.LabelSelectorAsSelector(&a.ServiceSelectors[i])
			if err != nil {
				return allocator.Pool{}, fmt.Errorf("invalid spec.serviceAllocation.serviceSelectors[%d]: %v", i, err)
			}
			pa.ServiceSelectors = append(pa.ServiceSelectors, selectorFunc(s))
		}
		pool.Allocation = pa
	}
	return pool, nil
}

func selectorFunc(s labels.Selector) allocator.Selector {
	return func(l map[string]string) bool { return s.Matches(labels.Set(l)) }
}
