package speaker

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/election"
)

// benchConfig: 1,000 nodes, 10,000 Services (a tenth ETP Local with endpoints on
// three nodes) in one /16 pool.
func benchConfig() (*Config, []string) {
	c := &Config{Self: "node-0007", Pools: config.Pools{pool("p", nil, "198.18.0.0/16")}, Ads: []config.L2Ad{{Name: "all"}}}
	var names []string
	for i := range 1000 {
		n := fmt.Sprintf("node-%04d", i)
		names = append(names, n)
		c.Nodes = append(c.Nodes, Node{Name: n, Interfaces: []string{"eth0"}, InterfacesKnown: true})
	}
	for i := range 10000 {
		s := Service{Namespace: "ns", Name: fmt.Sprintf("s%05d", i), IPs: []netip.Addr{netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})}, Serving: true}
		if i%10 == 0 {
			s.Local = true
			s.ServingNodes = map[string]bool{names[i%1000]: true, names[(i+1)%1000]: true, names[(i+7)%1000]: true}
		}
		c.Services = append(c.Services, s)
	}
	return c, names
}

// BenchmarkDecideAfterLivenessChange is the failover fast path: a node dies,
// the plan is reused, only the alive set changes.
func BenchmarkDecideAfterLivenessChange(b *testing.B) {
	c, names := benchConfig()
	p := NewPlan(c)
	cache := election.NewCache()
	p.Decide(names, true, cache)
	without := append([]string{names[0]}, names[2:]...)
	b.ResetTimer()
	for i := range b.N {
		if i%2 == 0 {
			p.Decide(without, true, cache)
		} else {
			p.Decide(names, true, cache)
		}
	}
}

// BenchmarkNewPlan is the cost of a Kubernetes change (full recompute).
func BenchmarkNewPlan(b *testing.B) {
	c, _ := benchConfig()
	b.ResetTimer()
	for range b.N {
		NewPlan(c)
	}
}
