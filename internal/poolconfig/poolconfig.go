// Package poolconfig turns IPAddressPool objects into the allocator's pools. A pool
// that cannot be used (a bad address, an overlap with another pool) is reported and
// left out, but never takes the rest of the configuration down with it: a pool that
// was good before and turned bad keeps serving with its last good spec, so a typo in
// an edit never moves an IP that is in use.
//
// Pure logic: no API calls; the caller keeps the LastGood map between calls.
package poolconfig

import (
	"fmt"
	"net/netip"
	"sort"

	"go4.org/netipx"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/allocator"
	"github.com/ironlb/ironlb/internal/ipnet"
)

// Problem is a reason a pool (or its latest edit) is not in use.
type Problem struct {
	Pool    string
	Message string
	// KeptLastGood is true when the pool still serves with its previous spec.
	KeptLastGood bool
}

func (p Problem) String() string {
	if p.KeptLastGood {
		return fmt.Sprintf("IPAddressPool %q: %s; its previous valid spec stays in use until this is fixed", p.Pool, p.Message)
	}
	return fmt.Sprintf("IPAddressPool %q: %s; the pool is not used until this is fixed", p.Pool, p.Message)
}

// LastGood remembers, per pool name, the last spec that was valid, so that a bad
// edit can fall back to it.
type LastGood map[string]metallbv1beta1.IPAddressPoolSpec

// Result is what Build returns.
type Result struct {
	Pools    []allocator.Pool
	Problems []Problem
}

type candidate struct {
	name    string
	created metav1.Time
	spec    metallbv1beta1.IPAddressPoolSpec
	pool    allocator.Pool
	kept    bool
}

// Build converts pools in a deterministic order (oldest first, then by name) so
// that, when two pools overlap, the one that was there first keeps its addresses and
// the newcomer is the one reported.
func Build(crs []metallbv1beta1.IPAddressPool, last LastGood) (Result, LastGood) {
	sorted := append([]metallbv1beta1.IPAddressPool(nil), crs...)
	sort.Slice(sorted, func(i, j int) bool {
		ti, tj := sorted[i].CreationTimestamp, sorted[j].CreationTimestamp
		if !ti.Equal(&tj) {
			return ti.Before(&tj)
		}
		return sorted[i].Name < sorted[j].Name
	})

	var res Result
	next := LastGood{}
	var accepted []candidate
	for _, cr := range sorted {
		c := candidate{name: cr.Name, created: cr.CreationTimestamp, spec: cr.Spec}
		pool, err := convert(cr.Name, cr.Spec)
		if err == nil {
			if other, ok := overlapping(pool, accepted); ok {
				err = fmt.Errorf("its addresses overlap IPAddressPool %q (%s); every address may belong to one pool only: remove the overlap from one of them", other.name, describeOverlap(pool, other.pool))
			}
		}
		if err != nil {
			prev, had := last[cr.Name]
			if had {
				if prevPool, perr := convert(cr.Name, prev); perr == nil {
					if _, clash := overlapping(prevPool, accepted); !clash {
						c.spec, c.pool, c.kept = prev, prevPool, true
						accepted = append(accepted, c)
						next[cr.Name] = prev
						res.Problems = append(res.Problems, Problem{Pool: cr.Name, Message: err.Error(), KeptLastGood: true})
						continue
					}
				}
			}
			res.Problems = append(res.Problems, Problem{Pool: cr.Name, Message: err.Error()})
			continue
		}
		c.pool = pool
		accepted = append(accepted, c)
		next[cr.Name] = cr.Spec
	}
	for _, c := range accepted {
		res.Pools = append(res.Pools, c.pool)
	}
	return res, next
}

func overlapping(p allocator.Pool, accepted []candidate) (candidate, bool) {
	for _, o := range accepted {
		for _, a := range p.Ranges {
			for _, b := range o.pool.Ranges {
				if a.Overlaps(b) {
					return o, true
				}
			}
		}
	}
	return candidate{}, false
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

func convert(name string, spec metallbv1beta1.IPAddressPoolSpec) (allocator.Pool, error) {
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
		for i, sel := range a.NamespaceSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				return allocator.Pool{}, fmt.Errorf("invalid spec.serviceAllocation.namespaceSelectors[%d]: %v", i, err)
			}
			pa.NamespaceSelectors = append(pa.NamespaceSelectors, selectorFunc(s))
		}
		for i, sel := range a.ServiceSelectors {
			s, err := metav1.LabelSelectorAsSelector(&sel)
			if err != nil {
				return allocator.Pool{}, fmt.Errorf("invalid spec.serviceAllocation.serviceSelectors[%d]: %v", i, err)
			}
			pa.ServiceSelectors = append(pa.ServiceSelectors, selectorFunc(s))
		}
		pool.Allocation = pa
	}
	return pool, nil
}

func selectorFunc(s labels.Selector) func(map[string]string) bool {
	return func(l map[string]string) bool { return s.Matches(labels.Set(l)) }
}

// Contains reports whether ip lies in one of the pool's ranges.
func Contains(p allocator.Pool, ip netip.Addr) bool {
	for _, r := range p.Ranges {
		if r.Contains(ip) {
			return true
		}
	}
	return false
}
