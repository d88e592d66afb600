package rendezvous

import (
	"net/netip"
	"sync"
)

// Cache decides owners with the same rule as [Owner] but remembers node keys, so
// a speaker that re-decides every IP on each membership change hashes no node
// name twice. Results are always identical to [Owner]. The Cache is bounded: when
// it holds more than twice the current candidates (plus a little slack) it keeps
// only the current ones, so a cluster whose nodes come and go does not grow it
// forever; a Cache is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	nodes map[string]uint64
	keys  []uint64 // scratch, reused between calls
}

// cacheSlack is how many departed node names a Cache may keep beyond twice the
// current candidates.
const cacheSlack = 64

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
	if len(c.nodes) > 2*len(candidates)+cacheSlack {
		// Forget departed nodes. Amortized O(1) per call: this happens only
		// after the map has grown by at least cacheSlack names.
		kept := make(map[string]uint64, len(candidates))
		for _, n := range candidates {
			if k, ok := c.nodes[n]; ok {
				kept[n] = k
			}
		}
		c.nodes = kept
	}
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
