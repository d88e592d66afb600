package allocator

import (
	"math"
	"math/bits"
	"net/netip"

	"go4.org/netipx"
)

// u128 is an unsigned 128-bit integer: an address ordinal.
type u128 struct{ hi, lo uint64 }

func (a u128) cmp(b u128) int {
	switch {
	case a.hi < b.hi:
		return -1
	case a.hi > b.hi:
		return 1
	case a.lo < b.lo:
		return -1
	case a.lo > b.lo:
		return 1
	}
	return 0
}

func (a u128) inc() u128 {
	lo, c := bits.Add64(a.lo, 1, 0)
	return u128{a.hi + c, lo}
}

func (a u128) dec() u128 {
	lo, b := bits.Sub64(a.lo, 1, 0)
	return u128{a.hi - b, lo}
}

func (a u128) sub(b u128) u128 {
	lo, br := bits.Sub64(a.lo, b.lo, 0)
	hi, _ := bits.Sub64(a.hi, b.hi, br)
	return u128{hi, lo}
}

func (a u128) add(b u128) u128 {
	lo, c := bits.Add64(a.lo, b.lo, 0)
	hi, _ := bits.Add64(a.hi, b.hi, c)
	return u128{hi, lo}
}

// sat returns a capped at MaxInt64.
func (a u128) sat() int64 {
	if a.hi != 0 || a.lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(a.lo)
}

func addrU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return u128{hi, lo}
}

func u128Addr(v u128, v4 bool) netip.Addr {
	if v4 {
		x := uint32(v.lo)
		return netip.AddrFrom4([4]byte{byte(x >> 24), byte(x >> 16), byte(x >> 8), byte(x)})
	}
	var b [16]byte
	for i := 0; i < 8; i++ {
		b[7-i] = byte(v.hi >> (8 * i))
		b[15-i] = byte(v.lo >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

// interval is a closed range of used ordinals.
type interval struct{ lo, hi u128 }

func cmpInterval(a, b interval) int { return a.lo.cmp(b.lo) }

// segment is one contiguous range of a pool, in one family, in the order
// the pool lists its addresses. Addresses are mapped to ordinals; when the
// pool avoids buggy IPs and the range is IPv4, the ordinal space skips .0
// and .255 ("compressed"), so the usable addresses of a segment are always
// the contiguous ordinals [lo, hi].
type segment struct {
	idx        int // position within its space
	rng        netipx.IPRange
	v4         bool
	compressed bool
	empty      bool
	lo, hi     u128
	used       *treap[interval] // maximal (merged) intervals of used ordinals
	sp         *space
}

func newSegment(r netipx.IPRange, avoidBuggy bool) *segment {
	s := &segment{rng: r, v4: r.From().Is4()}
	s.compressed = avoidBuggy && s.v4
	var ok1, ok2 bool
	if s.compressed {
		s.lo, ok1 = rankCeil(r.From())
		s.hi, ok2 = rankFloor(r.To())
		s.empty = !ok1 || !ok2 || s.hi.cmp(s.lo) < 0
	} else {
		s.lo, s.hi = addrU128(r.From()), addrU128(r.To())
	}
	s.used = newTreap(cmpInterval)
	return s
}

// size returns the number of usable addresses in the segment.
func (s *segment) size() u128 {
	if s.empty {
		return u128{}
	}
	return s.hi.sub(s.lo).inc() // a full IPv6 ::/0 wraps to 0; see space.capacity
}

// ord maps an address of the segment to its ordinal; ok is false when the
// address is outside the segment or a skipped buggy address.
func (s *segment) ord(a netip.Addr) (u128, bool) {
	if s.empty || !s.rng.Contains(a) {
		return u128{}, false
	}
	if !s.compressed {
		return addrU128(a), true
	}
	b := a.As4()
	if b[3] == 0 || b[3] == 255 {
		return u128{}, false
	}
	v, _ := rankCeil(a)
	return v, true
}

func (s *segment) addr(o u128) netip.Addr {
	if !s.compressed {
		return u128Addr(o, s.v4)
	}
	block, host := o.lo/254, o.lo%254+1
	return u128Addr(u128{0, block<<8 | host}, true)
}

// lowestFree returns the lowest unused ordinal. Because used intervals are
// kept merged, it is either lo or the end of the first interval plus one.
func (s *segment) lowestFree() (u128, bool) {
	if s.empty {
		return u128{}, false
	}
	m := s.used.min()
	if m == nil || m.key.lo.cmp(s.lo) > 0 {
		return s.lo, true
	}
	if m.key.hi.cmp(s.hi) >= 0 {
		return u128{}, false
	}
	return m.key.hi.inc(), true
}

func (s *segment) markUsed(o u128) {
	probe := interval{lo: o}
	l := s.used.floor(probe)
	if l != nil && l.key.hi.cmp(o) >= 0 {
		panic("allocator: marking an address that is already in use")
	}
	r := s.used.higher(probe)
	joinL := l != nil && l.key.hi.inc() == o
	joinR := r != nil && r.key.lo == o.inc()
	switch {
	case joinL && joinR:
		hi := r.key.hi
		s.used.delete(r.key)
		l.key.hi = hi
	case joinL:
		l.key.hi = o
	case joinR:
		r.key.lo = o // order preserved: nothing lies between o and the old lo
	default:
		s.used.insert(interval{o, o})
	}
}

func (s *segment) markFree(o u128) {
	l := s.used.floor(interval{lo: o})
	if l == nil || l.key.hi.cmp(o) < 0 {
		panic("allocator: freeing an address that is not in use")
	}
	switch {
	case l.key.lo == l.key.hi:
		s.used.delete(l.key)
	case l.key.lo == o:
		l.key.lo = o.inc()
	case l.key.hi == o:
		l.key.hi = o.dec()
	default:
		old := l.key.hi
		l.key.hi = o.dec()
		s.used.insert(interval{o.inc(), old})
	}
}

// rankCeil returns the rank, among IPv4 addresses whose last byte is in
// 1..254, of the first such address >= a.
func rankCeil(a netip.Addr) (u128, bool) {
	b := a.As4()
	v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	block, host := v>>8, v&0xff
	switch host {
	case 0:
		return u128{0, block * 254}, true
	case 255:
		if block == 0xffffff {
			return u128{}, false
		}
		return u128{0, (block + 1) * 254}, true
	}
	return u128{0, block*254 + host - 1}, true
}

// rankFloor returns the rank of the last non-buggy IPv4 address <= a.
func rankFloor(a netip.Addr) (u128, bool) {
	b := a.As4()
	v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	block, host := v>>8, v&0xff
	switch host {
	case 0:
		if block == 0 {
			return u128{}, false
		}
		return u128{0, block*254 - 1}, true
	case 255:
		return u128{0, block*254 + 253}, true
	}
	return u128{0, block*254 + host - 1}, true
}

// space is the part of one pool in one family.
type space struct {
	pool     *poolState
	family   Family
	segs     []*segment
	capacity u128  // saturates at 2^128-1
	assigned int64 // distinct addresses in use
}

func (sp *space) addSegment(s *segment) {
	s.idx = len(sp.segs)
	s.sp = sp
	sp.segs = append(sp.segs, s)
	sz := s.size()
	if !s.empty && sz == (u128{}) { // ::/0
		sp.capacity = u128{math.MaxUint64, math.MaxUint64}
		return
	}
	n := sp.capacity.add(sz)
	if n.cmp(sp.capacity) < 0 {
		n = u128{math.MaxUint64, math.MaxUint64}
	}
	sp.capacity = n
}

// full reports whether no address is free (exact unless capacity saturated).
func (sp *space) full() bool {
	return sp.capacity.cmp(u128{0, uint64(sp.assigned)}) <= 0
}

// pos orders addresses within a space: segment order, then ordinal.
type pos struct {
	seg *segment
	ord u128
}

func (p pos) less(q pos) bool {
	if p.seg.idx != q.seg.idx {
		return p.seg.idx < q.seg.idx
	}
	return p.ord.cmp(q.ord) < 0
}

// lowestFree returns the first free address in segment order.
func (sp *space) lowestFree() (pos, bool) {
	if sp.full() {
		return pos{}, false
	}
	for _, s := range sp.segs {
		if o, ok := s.lowestFree(); ok {
			return pos{s, o}, true
		}
	}
	return pos{}, false
}

func cmpRange(a, b netipx.IPRange) int { return a.From().Compare(b.From()) }

// claim marks r as owned in claimed (merged, disjoint ranges of one family)
// and returns the parts of r nobody owned before, in address order.
func claim(claimed *treap[netipx.IPRange], r netipx.IPRange) []netipx.IPRange {
	var pieces []netipx.IPRange
	from, to := r.From(), r.To()
	cur := from // first address of r not yet examined
	done := false
	merged := r
	var overlapping []netipx.IPRange
	n := claimed.floor(r)
	if n == nil || n.key.To().Less(from) {
		if n != nil && n.key.To().Next() == from {
			overlapping = append(overlapping, n.key) // adjacent: merge only
		}
		n = claimed.higher(r)
	}
	for ; n != nil && !to.Less(n.key.From()); n = claimed.higher(n.key) {
		c := n.key
		overlapping = append(overlapping, c)
		if !done && cur.Less(c.From()) {
			pieces = append(pieces, netipx.IPRangeFrom(cur, c.From().Prev()))
		}
		if !c.To().Less(to) {
			done = true
		} else if !done && !c.To().Less(cur) {
			cur = c.To().Next()
		}
	}
	if !done && !to.Less(cur) {
		pieces = append(pieces, netipx.IPRangeFrom(cur, to))
	}
	if n != nil && to.Next() == n.key.From() && to.Next().IsValid() {
		overlapping = append(overlapping, n.key) // adjacent on the right
	}
	for _, c := range overlapping {
		if c.From().Less(merged.From()) {
			merged = netipx.IPRangeFrom(c.From(), merged.To())
		}
		if merged.To().Less(c.To()) {
			merged = netipx.IPRangeFrom(merged.From(), c.To())
		}
		claimed.delete(c)
	}
	claimed.insert(merged)
	return pieces
}
