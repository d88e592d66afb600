package allocation

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/ipnet"
)

// Pools rebuilds the controller's view of the pools from the API, as DryRunFor
// does (pools loaded, every Service's IPs adopted as on a restart), without
// explaining any Service: the pools in use with their counters, and the problems
// that rejected the others. `kubectl ironlb pools` prints it.
func Pools(ctx context.Context, c client.Reader, namespace, lbClass string) ([]PoolSummary, []config.Problem, error) {
	s := NewState(namespace, lbClass)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.adoptAllLocked(ctx, c, ""); err != nil {
		return nil, nil, err
	}
	var out []PoolSummary
	for _, name := range s.alloc.PoolNames() {
		p := s.pools[name]
		sum := PoolSummary{Name: name, AutoAssign: p.AutoAssign, Stats: s.alloc.PoolStats(name)}
		for _, r := range p.Ranges {
			sum.Ranges = append(sum.Ranges, ipnet.String(r))
		}
		out = append(out, sum)
	}
	return out, s.problems, nil
}
