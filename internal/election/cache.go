package election

import (
	"bytes"
	"crypto/sha256"
	"net/netip"
	"sync"
)

// topK is how many of the best-ranked nodes a Cache remembers per IP. An IP
// whose topK best nodes are all missing from the candidates falls back to a
// full pass over the candidates, which is correct but hashes again.
const topK = 8

// Cache decides owners with the same rule as [Owner] but remembers, per IP,
// the topK best-ranked nodes among every node it has seen. Each (node, IP)
// pair is hashed at most once while both stay in the cache, so the common
// event, a node dying or coming back, re-decides thousands of IPs without
// hashing. Results are always identical to [Owner].
//
// Node names are remembered for the life of the Cache; a speaker that sees
// heavy node churn calls [Cache.Reset] now and then (for example when it has
// seen twice as many names as there are Nodes). IPs are dropped with
// [Cache.Forget]. A Cache is safe for concurrent use.
type Cache struct {
	mu    sync.Mutex
	ids   map[string]uint32 // node name -> dense id, assigned in order of first sight
	names []string          // id -> node name
	ips   map[netip.Addr]*ranking
	buf   []byte
	// scratch for candidate sets, reused between calls
	member []uint64
	cand   []uint32
}

// ranking holds, for one IP, the topK smallest scores among node ids < upto.
type ranking struct {
	upto uint32
	n    int
	top  [topK]slot // ascending by score
}

type slot struct {
	score [32]byte
	id    uint32
}

// NewCache returns an empty Cache.
func NewCache() *Cache {
	return &Cache{ids: map[string]uint32{}, ips: map[netip.Addr]*ranking{}, buf: make([]byte, 0, 320)}
}

// Owner is [Owner] with memoised hashing.
func (c *Cache) Owner(ip netip.Addr, candidates []string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	maxID := c.load(candidates)
	return c.ownerLocked(canonical(ip), maxID)
}

// Owners is [Owners] with memoised hashing: the result is parallel to ips and
// "" marks an IP without candidates.
func (c *Cache) Owners(ips []netip.Addr, candidates []string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(ips))
	if len(candidates) == 0 {
		return out
	}
	maxID := c.load(candidates)
	for i, ip := range ips {
		out[i], _ = c.ownerLocked(canonical(ip), maxID)
	}
	return out
}

// Forget drops what the Cache knows about ip.
func (c *Cache) Forget(ip netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ips, canonical(ip))
}

// Reset drops everything, including remembered node names.
func (c *Cache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.ids)
	clear(c.ips)
	c.names = c.names[:0]
}

// load interns candidates, fills the c.member bitset and c.cand list, and
// returns the largest candidate id (or -1 when there are none).
func (c *Cache) load(candidates []string) int64 {
	for _, id := range c.cand {
		c.member[id/64] = 0
	}
	c.cand = c.cand[:0]
	maxID := int64(-1)
	for _, name := range candidates {
		id, ok := c.ids[name]
		if !ok {
			id = uint32(len(c.names))
			c.ids[name] = id
			c.names = append(c.names, name)
		}
		for int(id/64) >= len(c.member) {
			c.member = append(c.member, 0)
		}
		c.member[id/64] |= 1 << (id % 64)
		c.cand = append(c.cand, id)
		maxID = max(maxID, int64(id))
	}
	return maxID
}

func (c *Cache) isCandidate(id uint32) bool {
	return int(id/64) < len(c.member) && c.member[id/64]&(1<<(id%64)) != 0
}

func (c *Cache) ownerLocked(ip netip.Addr, maxID int64) (string, bool) {
	if maxID < 0 {
		return "", false
	}
	r := c.ips[ip]
	if r == nil {
		r = &ranking{}
		c.ips[ip] = r
	}
	if maxID >= int64(r.upto) {
		// Rank every node seen since this IP was last ranked, not only the
		// candidates, so that "all ids < upto are ranked" stays true.
		for id := r.upto; id < uint32(len(c.names)); id++ {
			r.insert(slot{score: c.score(c.names[id], ip), id: id})
		}
		r.upto = uint32(len(c.names))
	}
	// Every candidate has an id < upto. If one of the topK is a candidate,
	// the first such is the minimum over the candidates: all others rank
	// below the topK.
	for _, s := range r.top[:r.n] {
		if c.isCandidate(s.id) {
			return c.names[s.id], true
		}
	}
	// All topK are excluded (many nodes down, or a short ETP=Local list).
	best := slot{}
	for i, id := range c.cand {
		s := c.score(c.names[id], ip)
		if i == 0 || bytes.Compare(s[:], best.score[:]) < 0 {
			best = slot{score: s, id: id}
		}
	}
	return c.names[best.id], true
}

func (c *Cache) score(node string, ip netip.Addr) [32]byte {
	c.buf = appendKey(c.buf[:0], node, ip)
	return sha256.Sum256(c.buf)
}

// insert keeps top sorted and at most topK long.
func (r *ranking) insert(s slot) {
	i := r.n
	for i > 0 && bytes.Compare(s.score[:], r.top[i-1].score[:]) < 0 {
		i--
	}
	if i == topK {
		return
	}
	if r.n < topK {
		r.n++
	}
	copy(r.top[i+1:r.n], r.top[i:r.n-1])
	r.top[i] = s
}
