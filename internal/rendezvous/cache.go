package rendezvous

import (
	"net/netip"
	"sync"
)

// Cache decides owners with the same rule as [Owner] but remembers node keys, so
// a speaker that re-decides every IP on each membership change hashes no node
// name twice. Results are always identical to [Owner]. Node names are remembered
// for the life of the Cache ([Cache.Reset] drops them); a Cache is safe for
// concurrent use.
type Cache struct {
	mu    sync.Mutex
	nodes map[string]uint64
	keys  []uint64 // scratch, reused between calls
}

// NewCache returns an empty Cache.
func NewCache() *Cache { return &Cache{nodes: map[string]uint64{}} }

// Owner is [Owner] with memoised node keys.
func (c *Cache) Owner(ip netip.Addr, candidates []string) (string, bool) {
	if len(candidates) == 0 {
		return "", false
	}
	out := c.Owners([]netip.Addr{ip}, candidates)
	return out[0], true
}

// Owners is [Owners] with memoised node keys.
func (c *Cache) Owners(ips []netip.Addr, candidates []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.keys = c.keys[:0]
	for _, n := range candidates {
		k, ok := c.nodes[n]
		if !ok {
			k = NodeKey(n)
			c.nodes[n] = k
		}
		c.keys = append(c.keys, k)
	}
	return ownersWithKeys(ips, candidates, c.keys)
}

// Reset forgets every node name.
func (c *Cache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nodes = map[string]uint64{}
}
