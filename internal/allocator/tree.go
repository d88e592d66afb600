package allocator

// treap is a small ordered set (a randomized balanced binary search tree)
// with O(log n) expected insert, delete, floor and successor. Callers may
// mutate a node's key in place as long as the order with respect to every
// other key is kept (used to grow and shrink intervals).
type treap[K any] struct {
	root *tnode[K]
	cmp  func(a, b K) int
	rnd  uint64
	n    int
}

type tnode[K any] struct {
	key  K
	prio uint64
	l, r *tnode[K]
}

func newTreap[K any](cmp func(a, b K) int) *treap[K] {
	return &treap[K]{cmp: cmp, rnd: 0x9e3779b97f4a7c15}
}

func (t *treap[K]) nextPrio() uint64 {
	// xorshift64*: deterministic, cheap, good enough for balancing.
	t.rnd ^= t.rnd >> 12
	t.rnd ^= t.rnd << 25
	t.rnd ^= t.rnd >> 27
	return t.rnd * 2685821657736338717
}

// split returns the nodes < k and the nodes >= k.
func (t *treap[K]) split(n *tnode[K], k K) (*tnode[K], *tnode[K]) {
	if n == nil {
		return nil, nil
	}
	if t.cmp(n.key, k) < 0 {
		l, r := t.split(n.r, k)
		n.r = l
		return n, r
	}
	l, r := t.split(n.l, k)
	n.l = r
	return l, n
}

func (t *treap[K]) merge(a, b *tnode[K]) *tnode[K] {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	if a.prio > b.prio {
		a.r = t.merge(a.r, b)
		return a
	}
	b.l = t.merge(a, b.l)
	return b
}

// insert adds k, which must not be present. It returns the new node.
func (t *treap[K]) insert(k K) *tnode[K] {
	nn := &tnode[K]{key: k, prio: t.nextPrio()}
	t.root = t.insertAt(t.root, nn)
	t.n++
	return nn
}

func (t *treap[K]) insertAt(n, nn *tnode[K]) *tnode[K] {
	if n == nil {
		return nn
	}
	if nn.prio > n.prio {
		nn.l, nn.r = t.split(n, nn.key)
		return nn
	}
	if t.cmp(nn.key, n.key) < 0 {
		n.l = t.insertAt(n.l, nn)
	} else {
		n.r = t.insertAt(n.r, nn)
	}
	return n
}

// delete removes the node comparing equal to k; it reports whether one was found.
func (t *treap[K]) delete(k K) bool {
	p := &t.root
	for *p != nil {
		c := t.cmp(k, (*p).key)
		switch {
		case c < 0:
			p = &(*p).l
		case c > 0:
			p = &(*p).r
		default:
			*p = t.merge((*p).l, (*p).r)
			t.n--
			return true
		}
	}
	return false
}

// min returns the smallest node or nil.
func (t *treap[K]) min() *tnode[K] {
	n := t.root
	if n == nil {
		return nil
	}
	for n.l != nil {
		n = n.l
	}
	return n
}

// floor returns the greatest node <= k, or nil.
func (t *treap[K]) floor(k K) *tnode[K] {
	var best *tnode[K]
	for n := t.root; n != nil; {
		if t.cmp(n.key, k) <= 0 {
			best = n
			n = n.r
		} else {
			n = n.l
		}
	}
	return best
}

// higher returns the smallest node > k, or nil.
func (t *treap[K]) higher(k K) *tnode[K] {
	var best *tnode[K]
	for n := t.root; n != nil; {
		if t.cmp(n.key, k) > 0 {
			best = n
			n = n.l
		} else {
			n = n.r
		}
	}
	return best
}

// ascend calls fn on keys in increasing order until fn returns false.
func (t *treap[K]) ascend(fn func(k K) bool) {
	var walk func(n *tnode[K]) bool
	walk = func(n *tnode[K]) bool {
		if n == nil {
			return true
		}
		return walk(n.l) && fn(n.key) && walk(n.r)
	}
	walk(t.root)
}
