// Package ipnet parses the address entries of an IPAddressPool
// (spec.addresses) into netipx.IPRange values, finds overlaps between pools
// and counts addresses without overflowing.
//
// An entry is either a CIDR ("10.0.0.0/24", "2001:db8::/64"; host bits are
// masked away like net.ParseCIDR does, and a single address needs /32 or
// /128) or a range "a.b.c.d-e.f.g.h" whose two ends are trimmed of spaces and
// must be of the same family, start not after end. These are MetalLB's
// rules (config.ParseCIDR). IPv4-mapped IPv6 addresses and zones are
// rejected.
//
// Counts saturate at math.MaxInt64, so an IPv6 /64 (or a sum of many of
// them) never overflows.
package ipnet

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sort"
	"strings"

	"go4.org/netipx"
)

// Sentinel errors wrapped by *ParseError, for errors.Is.
var (
	ErrStartAfterEnd = errors.New("start is after end")
	ErrMixedFamilies = errors.New("start and end are of different families")
	ErrNoAddresses   = errors.New("pool has no addresses")
	ErrMapped        = errors.New("IPv4-mapped IPv6 addresses are not allowed, use the IPv4 form")
	ErrZone          = errors.New("IPv6 zones are not allowed")
)

// ParseError reports a bad address entry. Index is the position of the
// entry in spec.addresses, or -1 when the entry was parsed on its own.
type ParseError struct {
	Index int
	Entry string
	Kind  string // "CIDR" or "range"
	Err   error
}

func (e *ParseError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("invalid %s %q in spec.addresses[%d]: %v", e.Kind, e.Entry, e.Index, e.Err)
	}
	return fmt.Sprintf("invalid %s %q: %v", e.Kind, e.Entry, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ParseAddress parses one pool entry, a CIDR or an "a-b" range.
func ParseAddress(entry string) (netipx.IPRange, error) {
	return parse(entry, -1)
}

// ParseAddresses parses spec.addresses in order. The result has one range
// per entry, in the same order. An empty list is an error, as in MetalLB.
func ParseAddresses(entries []string) ([]netipx.IPRange, error) {
	if len(entries) == 0 {
		return nil, ErrNoAddresses
	}
	out := make([]netipx.IPRange, 0, len(entries))
	for i, e := range entries {
		r, err := parse(e, i)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func parse(entry string, idx int) (netipx.IPRange, error) {
	if !strings.Contains(entry, "-") {
		fail := func(err error) (netipx.IPRange, error) {
			return netipx.IPRange{}, &ParseError{Index: idx, Entry: entry, Kind: "CIDR", Err: err}
		}
		p, err := netip.ParsePrefix(entry)
		if err != nil {
			return fail(err)
		}
		if p.Addr().Is4In6() {
			return fail(ErrMapped)
		}
		return netipx.RangeOfPrefix(p.Masked()), nil
	}
	fail := func(err error) (netipx.IPRange, error) {
		return netipx.IPRange{}, &ParseError{Index: idx, Entry: entry, Kind: "range", Err: err}
	}
	start, end, _ := strings.Cut(entry, "-")
	from, err := parseAddr(strings.TrimSpace(start), "start")
	if err != nil {
		return fail(err)
	}
	to, err := parseAddr(strings.TrimSpace(end), "end")
	if err != nil {
		return fail(err)
	}
	if from.Is4() != to.Is4() {
		return fail(ErrMixedFamilies)
	}
	if to.Less(from) {
		return fail(ErrStartAfterEnd)
	}
	return netipx.IPRangeFrom(from, to), nil
}

func parseAddr(s, what string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid %s IP %q", what, s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%s IP %q: %w", what, s, ErrZone)
	}
	if a.Is4In6() {
		return netip.Addr{}, fmt.Errorf("%s IP %q: %w", what, s, ErrMapped)
	}
	return a, nil
}

// String renders a range as a prefix when it is exactly one, else "a-b".
func String(r netipx.IPRange) string {
	if p, ok := r.Prefix(); ok {
		return p.String()
	}
	return r.String()
}

// PoolRanges names the ranges of one pool, for overlap detection.
type PoolRanges struct {
	Name   string
	Ranges []netipx.IPRange
}

// Overlap describes two overlapping ranges. Index is the position of the
// range in its pool's list.
type Overlap struct {
	PoolA  string
	IndexA int
	A      netipx.IPRange
	PoolB  string
	IndexB int
	B      netipx.IPRange
}

func (o *Overlap) Error() string {
	if o.PoolA == o.PoolB {
		return fmt.Sprintf("range %q (spec.addresses[%d]) overlaps with %q (spec.addresses[%d]) in pool %q",
			String(o.B), o.IndexB, String(o.A), o.IndexA, o.PoolA)
	}
	return fmt.Sprintf("range %q in pool %q overlaps with already defined range %q in pool %q",
		String(o.B), o.PoolB, String(o.A), o.PoolA)
}

// FindOverlap returns the first overlap between any two ranges of any pools
// (including two ranges of the same pool), or nil. It runs in O(n log n).
// The result is deterministic: A is the range that starts first (ties broken
// by pool order, then index), B the one that overlaps it.
func FindOverlap(pools []PoolRanges) *Overlap {
	type item struct {
		r     netipx.IPRange
		pool  int
		index int
	}
	var items []item
	for pi, p := range pools {
		for ri, r := range p.Ranges {
			if r.IsValid() {
				items = append(items, item{r, pi, ri})
			}
		}
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if c := a.r.From().Compare(b.r.From()); c != 0 {
			return c < 0
		}
		if a.pool != b.pool {
			return a.pool < b.pool
		}
		return a.index < b.index
	})
	// Track the item reaching furthest so far, per family (IPv4 sorts first).
	var best *item
	for i := range items {
		it := &items[i]
		if best != nil && best.r.From().Is4() == it.r.From().Is4() && !best.r.To().Less(it.r.From()) {
			return &Overlap{
				PoolA: pools[best.pool].Name, IndexA: best.index, A: best.r,
				PoolB: pools[it.pool].Name, IndexB: it.index, B: it.r,
			}
		}
		if best == nil || best.r.From().Is4() != it.r.From().Is4() || best.r.To().Less(it.r.To()) {
			best = it
		}
	}
	return nil
}

// IsBuggy reports whether a is an IPv4 address ending in .0 or .255, which
// avoidBuggyIPs skips.
func IsBuggy(a netip.Addr) bool {
	a = a.Unmap()
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return b[3] == 0 || b[3] == 255
}

// SaturatingAdd returns a+b for non-negative a and b, capped at MaxInt64.
func SaturatingAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Size returns the number of addresses in r, capped at MaxInt64.
func Size(r netipx.IPRange) int64 {
	if !r.IsValid() {
		return 0
	}
	hi, lo := diff(r.From(), r.To())
	// size = diff + 1
	if hi != 0 || lo >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo) + 1
}

// UsableSize is Size, minus the .0 and .255 addresses when avoidBuggy is set
// and r is IPv4.
func UsableSize(r netipx.IPRange, avoidBuggy bool) int64 {
	if !r.IsValid() {
		return 0
	}
	if !avoidBuggy || !r.From().Is4() {
		return Size(r)
	}
	// Count the addresses with host byte in 1..254: map each address to its
	// rank among non-buggy addresses.
	lo, okLo := rankCeil(r.From())
	hi, okHi := rankFloor(r.To())
	if !okLo || !okHi || hi < lo {
		return 0
	}
	return hi - lo + 1
}

// rankCeil returns the rank (among IPv4 addresses with host byte 1..254) of
// the first such address >= a.
func rankCeil(a netip.Addr) (int64, bool) {
	b := a.As4()
	v := int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
	block, host := v>>8, v&0xff
	switch host {
	case 0:
		return block * 254, true
	case 255:
		if block == 0xffffff {
			return 0, false
		}
		return (block + 1) * 254, true
	}
	return block*254 + host - 1, true
}

// rankFloor returns the rank of the last non-buggy address <= a.
func rankFloor(a netip.Addr) (int64, bool) {
	b := a.As4()
	v := int64(b[0])<<24 | int64(b[1])<<16 | int64(b[2])<<8 | int64(b[3])
	block, host := v>>8, v&0xff
	switch host {
	case 0:
		if block == 0 {
			return 0, false
		}
		return block*254 - 1, true
	case 255:
		return block*254 + 253, true
	}
	return block*254 + host - 1, true
}

// Count returns the number of IPv4 and IPv6 addresses in ranges, each capped
// at MaxInt64. Overlapping ranges are counted twice (callers reject overlaps
// with FindOverlap first).
func Count(ranges []netipx.IPRange, avoidBuggy bool) (ipv4, ipv6 int64) {
	for _, r := range ranges {
		if !r.IsValid() {
			continue
		}
		n := UsableSize(r, avoidBuggy)
		if r.From().Is4() {
			ipv4 = SaturatingAdd(ipv4, n)
		} else {
			ipv6 = SaturatingAdd(ipv6, n)
		}
	}
	return ipv4, ipv6
}

// diff returns to-from as a 128-bit number (hi, lo). from <= to, same family.
func diff(from, to netip.Addr) (uint64, uint64) {
	fh, fl := u128(from)
	th, tl := u128(to)
	lo := tl - fl
	hi := th - fh
	if tl < fl {
		hi--
	}
	return hi, lo
}

func u128(a netip.Addr) (uint64, uint64) {
	if a.Is4() {
		b := a.As4()
		return 0, uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	}
	b := a.As16()
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return hi, lo
}
