// Package allocator is ironlb's in-memory IP address allocator: it tracks
// address pools and which Service holds which addresses, and hands out
// addresses with MetalLB v0.16's semantics, without MetalLB's linear scan.
//
// # Semantics
//
//   - Lowest free first: inside a pool, ranges are walked in the order the
//     pool lists them and the lowest free address of the first range with
//     room wins; a freed address is the next one handed out.
//   - avoidBuggyIPs skips IPv4 addresses ending in .0 and .255, both when
//     allocating and when a Service requests such an address (which is then
//     "not allowed in config").
//   - All addresses of a Service come from one pool. SingleStack uses
//     Families[0] (IPv4 when empty). With two Families and RequireDualStack
//     a pool holding both families is needed; PreferDualStack takes the
//     first pool holding both, else the first pool with the primary family,
//     else the first with the secondary one.
//   - Sharing: an address holds several Services only if all have the same
//     non-empty SharingKey, the same BackendKey and no (protocol, port) pair
//     in common. A Service alone on its address may change its key in
//     place. A Service with a SharingKey is given the lowest address that is
//     free or already shared under the same key with no port clash.
//   - Allocate tries the pools whose serviceAllocation admits the Service
//     (namespace, namespace selectors, service selectors; a pool with only
//     a priority admits everyone), autoAssign only, by priority (lower
//     first, 0/unset last, ties by name), then the autoAssign pools without
//     serviceAllocation by name. Pools with autoAssign=false are only used
//     through AllocateFromPool or Assign.
//   - SetPools keeps every allocation whose addresses are still in one pool
//     that admits the Service (re-homing it if the pool was renamed or
//     split) and evicts the rest.
//
// Differences from MetalLB, on purpose: pool order is deterministic (MetalLB
// iterates a Go map); Allocate and AllocateFromPool of a Service that holds
// addresses re-validate them like MetalLB, but AllocateFromPool naming a
// different pool moves the Service if the new pool has room (and leaves it
// untouched otherwise); namespaceSelectors restrict a pool even when they
// match no namespace (MetalLB folds them into the namespace list at parse
// time, so a selector matching nothing restricts nothing); an address used
// only by Services without ports stays taken (MetalLB forgets its sharing
// key); dual-stack results list the primary family (Families[0]) first, and
// PreferDualStack inside a named pool falls back to the primary family
// (MetalLB: always IPv4 first); requested IPv4-mapped IPv6 addresses are
// treated as IPv4.
//
// # Cost
//
// Each pool keeps, per family and per range, an ordered set (a treap) of
// merged intervals of used addresses, so the lowest free address is found
// in O(log n) and marking or freeing one address is O(log n) whatever the
// fill level. Address offsets are 128-bit, so IPv6 /64 (or larger) pools
// work. Addresses shared under a sharing key are indexed per (key, pool,
// family) in address order, so a shared allocation only looks at the
// addresses of its own key. Allocate still loops over the candidate pools
// (a full pool is skipped in O(1)).
//
// An Allocator is not safe for concurrent use; the controller serializes
// calls.
package allocator

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	"go4.org/netipx"
)

// Family is an IP family.
type Family int

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return fmt.Sprintf("Family(%d)", int(f))
}

func familyOf(a netip.Addr) Family {
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

func famIdx(f Family) int {
	if f == IPv6 {
		return 1
	}
	return 0
}

// DualStackPolicy mirrors spec.ipFamilyPolicy.
type DualStackPolicy int

const (
	SingleStack DualStackPolicy = iota
	PreferDualStack
	RequireDualStack
)

// Port is one (protocol, port) pair of a Service.
type Port struct {
	Protocol string
	Port     int32
}

func (p Port) String() string { return fmt.Sprintf("%s/%d", p.Protocol, p.Port) }

// Service is what the allocator needs to know about a Service.
type Service struct {
	Key             string // "ns/name"; required
	Namespace       string // defaults to the part of Key before "/"
	Labels          map[string]string
	NamespaceLabels map[string]string
	SharingKey      string // allow-shared-ip value, "" = not shared
	BackendKey      string // selector string when externalTrafficPolicy=Local, else ""
	Ports           []Port
	Families        []Family // spec.ipFamilies, in order; empty means [IPv4]
	DualStack       DualStackPolicy
}

func (s *Service) namespace() string {
	if s.Namespace != "" {
		return s.Namespace
	}
	ns, _, _ := strings.Cut(s.Key, "/")
	return ns
}

// wanted returns the families in preference order and whether the Service
// wants both.
func (s *Service) wanted() ([]Family, bool) {
	if len(s.Families) == 0 {
		return []Family{IPv4}, false
	}
	dual := len(s.Families) >= 2 && s.DualStack != SingleStack && s.Families[0] != s.Families[1]
	return s.Families, dual
}

// Selector is a label predicate; a nil Selector matches everything (like an
// empty metav1.LabelSelector). Wrap a labels.Selector as
// func(m map[string]string) bool { return sel.Matches(labels.Set(m)) }.
type Selector func(labels map[string]string) bool

// PoolAllocation is spec.serviceAllocation.
type PoolAllocation struct {
	Priority           int // lower is preferred; 0 (or negative) means last
	Namespaces         []string
	NamespaceSelectors []Selector // matched against Service.NamespaceLabels
	ServiceSelectors   []Selector // matched against Service.Labels
}

// Pool is one address pool.
type Pool struct {
	Name          string
	Ranges        []netipx.IPRange // from ipnet.ParseAddresses, in spec order
	AutoAssign    bool
	AvoidBuggyIPs bool
	Allocation    *PoolAllocation // nil = no serviceAllocation
}

// Stats are a pool's counters (IPAddressPool status). An address shared by
// several Services counts once. Values saturate at MaxInt64.
type Stats struct {
	AssignedIPv4, AssignedIPv6   int64
	AvailableIPv4, AvailableIPv6 int64
}

type shareKey struct{ sharing, backend string }

func (k shareKey) sharesWith(o shareKey) bool {
	return k.sharing != "" && k == o
}

// ipUse is the state of one address in use.
type ipUse struct {
	addr  netip.Addr
	pos   pos
	key   shareKey
	svcs  []string
	one   [1]string // backing array for svcs in the common unshared case
	ports []portUse // (protocol, port) pairs in use, few per address
}

type portUse struct {
	port Port
	svc  string
}

// portOwner returns the Service using p on the address, or "".
func (u *ipUse) portOwner(p Port) string {
	for _, pu := range u.ports {
		if pu.port == p {
			return pu.svc
		}
	}
	return ""
}

type alloc struct {
	svc  Service
	pool string
	ips  []netip.Addr
}

type poolState struct {
	cfg    Pool
	spaces [2]*space
}

type groupKey struct {
	key shareKey
	sp  *space
}

// Allocator tracks pools and allocations. The zero value is not usable; use New.
type Allocator struct {
	pools  map[string]*poolState
	names  []string
	lookup [2][]*segment // all segments of a family, sorted by first address
	allocs map[string]*alloc
	// releasing holds, per Service key, addresses the Service may still show
	// in its status although it no longer owns them (evicted by SetPools, or
	// given up by Retire). They stay in use, under the owner name
	// releasingOwner(key), until EndRelease: an address leaves its holder's
	// status before anyone else may be given it.
	releasing map[string]*alloc
	ips       map[netip.Addr]*ipUse
	groups    map[groupKey]*treap[*ipUse]

	fallback []*poolState // autoAssign pools without serviceAllocation, by name
	withSA   []*poolState // autoAssign pools with serviceAllocation, by name
}

// New returns an Allocator with no pools.
func New() *Allocator {
	return &Allocator{
		pools:     map[string]*poolState{},
		allocs:    map[string]*alloc{},
		releasing: map[string]*alloc{},
		ips:       map[netip.Addr]*ipUse{},
		groups:    map[groupKey]*treap[*ipUse]{},
	}
}

func cmpUse(a, b *ipUse) int {
	if a.pos.seg.idx != b.pos.seg.idx {
		return a.pos.seg.idx - b.pos.seg.idx
	}
	return a.pos.ord.cmp(b.pos.ord)
}

// SetPools replaces the pool set. Allocations whose addresses all lie in
// one pool that still admits the Service are kept (re-homed when that pool
// has another name); the others are dropped and their keys returned, sorted.
//
// Pools should not overlap (ipnet.FindOverlap); if they do, the pool whose
// name sorts first owns the overlapping addresses. A pool listed twice is
// taken from its first occurrence.
func (a *Allocator) SetPools(pools []Pool) (evicted []string) {
	a.pools = map[string]*poolState{}
	a.names = a.names[:0]
	for _, p := range pools {
		if _, dup := a.pools[p.Name]; dup {
			continue
		}
		a.pools[p.Name] = &poolState{cfg: p}
		a.names = append(a.names, p.Name)
	}
	sort.Strings(a.names)
	a.fallback, a.withSA = nil, nil
	for _, name := range a.names {
		p := a.pools[name]
		switch {
		case !p.cfg.AutoAssign:
		case p.cfg.Allocation == nil:
			a.fallback = append(a.fallback, p)
		default:
			a.withSA = append(a.withSA, p)
		}
	}
	a.lookup = [2][]*segment{}
	// claimed holds, per family, the merged ranges already owned by an earlier
	// pool or range, so an overlapping range keeps only what is left. An ordered
	// set makes this O(log n) per range: rebuilding an IPSet per range was
	// quadratic (8,192 ranges: 13.9 s under the allocation lock).
	claimed := [2]*treap[netipx.IPRange]{newTreap(cmpRange), newTreap(cmpRange)}
	for _, name := range a.names {
		p := a.pools[name]
		p.spaces = [2]*space{{pool: p, family: IPv4}, {pool: p, family: IPv6}}
		for _, r := range p.cfg.Ranges {
			if !r.IsValid() {
				continue
			}
			fi := famIdx(familyOf(r.From()))
			// Invalid config (overlap): the earlier range keeps the addresses.
			for _, piece := range claim(claimed[fi], r) {
				seg := newSegment(piece, p.cfg.AvoidBuggyIPs)
				p.spaces[fi].addSegment(seg)
				a.lookup[fi] = append(a.lookup[fi], seg)
			}
		}
	}
	for fi := range a.lookup {
		sort.Slice(a.lookup[fi], func(i, j int) bool {
			return a.lookup[fi][i].rng.From().Less(a.lookup[fi][j].rng.From())
		})
	}

	old := a.allocs
	keys := make([]string, 0, len(old))
	for k := range old {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	a.allocs = make(map[string]*alloc, len(old))
	a.ips = make(map[netip.Addr]*ipUse, len(a.ips))
	a.groups = map[groupKey]*treap[*ipUse]{}
	oldReleasing := a.releasing
	a.releasing = make(map[string]*alloc, len(oldReleasing))
	for _, k := range keys {
		al := old[k]
		cands, p, ok := a.locate(al.ips)
		if !ok || !compatible(&p.cfg, &al.svc) {
			evicted = append(evicted, k)
			continue
		}
		a.recommit(al, p, cands)
	}
	// Evicted Services still show their addresses until the controller writes
	// their status: keep the addresses that are still in a pool reserved, and
	// remember all of them (a pool edited back must not hand them out either).
	for _, k := range evicted {
		a.hold(old[k].svc, old[k].ips)
	}
	rkeys := make([]string, 0, len(oldReleasing))
	for k := range oldReleasing {
		rkeys = append(rkeys, k)
	}
	sort.Strings(rkeys)
	for _, k := range rkeys {
		a.hold(oldReleasing[k].svc, oldReleasing[k].ips)
	}
	return evicted
}

// releasingOwner is the owner name of addresses a Service is releasing; it
// cannot collide with a Service key (a name has no space) and reads well in
// sharing errors.
func releasingOwner(key string) string { return key + releasingSuffix }

const releasingSuffix = " (releasing)"

// hold adds ips to svc's releasing addresses. Addresses outside every pool are
// remembered but need no reservation until a pool covers them again.
func (a *Allocator) hold(svc Service, ips []netip.Addr) {
	s := svc
	s.Ports = slices.Clone(svc.Ports)
	s.Families = slices.Clone(svc.Families)
	if old := a.releasing[svc.Key]; old != nil {
		// Releasing more: hold the union of addresses with the union of ports,
		// rebuilt from scratch so every address carries the same owner record.
		for _, p := range old.svc.Ports {
			if !slices.Contains(s.Ports, p) {
				s.Ports = append(s.Ports, p)
			}
		}
		for _, ip := range old.ips {
			if !slices.Contains(ips, ip) {
				ips = append(ips, ip)
			}
		}
		a.EndRelease(svc.Key)
	}
	r := &alloc{svc: s}
	a.releasing[svc.Key] = r
	svc = s
	owner := releasingOwner(svc.Key)
	k := shareKey{svc.SharingKey, svc.BackendKey}
	for _, ip := range ips {
		if !slices.Contains(r.ips, ip) {
			r.ips = append(r.ips, ip)
		}
		if use := a.ips[ip]; use != nil {
			if slices.Contains(use.svcs, owner) {
				continue
			}
			a.addOwner(use, owner, svc.Ports)
			continue
		}
		s, o := a.segmentFor(ip)
		if s == nil {
			continue
		}
		a.newUse(ip, pos{s, o}, k)
		a.addOwner(a.ips[ip], owner, svc.Ports)
	}
}

// Retire moves the Service's allocation to its releasing addresses: the
// Service no longer owns them (it may be given others), but nobody else may
// have them until EndRelease. The controller retires before it writes a
// status without the addresses, and ends the release once that write is
// confirmed. It returns the retired addresses.
func (a *Allocator) Retire(key string) []netip.Addr {
	al := a.allocs[key]
	if al == nil {
		return nil
	}
	ips := slices.Clone(al.ips)
	a.release(key)
	a.hold(al.svc, ips)
	return ips
}

// EndRelease frees the Service's releasing addresses, once its status no
// longer shows them. It returns the addresses no longer used by anyone.
func (a *Allocator) EndRelease(key string) (freed []netip.Addr) {
	r := a.releasing[key]
	if r == nil {
		return nil
	}
	delete(a.releasing, key)
	owner := releasingOwner(key)
	for _, ip := range r.ips {
		use := a.ips[ip]
		if use == nil || !slices.Contains(use.svcs, owner) {
			continue
		}
		if a.dropOwner(use, owner) {
			freed = append(freed, ip)
		}
	}
	return freed
}

// Hold reserves ips as the Service's releasing addresses without checking
// pools or sharing: for addresses a Service's status shows that it may not
// keep (found at restart re-adoption), so nobody else gets them before its
// status is rewritten.
func (a *Allocator) Hold(svc Service, ips []netip.Addr) {
	if svc.Key == "" {
		return
	}
	norm := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		if ip.IsValid() {
			norm = append(norm, ip.Unmap().WithZone(""))
		}
	}
	a.hold(svc, norm)
}

// Admits reports whether the pool's serviceAllocation admits svc, and whether
// the pool serves Services that do not name it (autoAssign).
func (a *Allocator) Admits(pool string, svc Service) (admits, autoAssign bool) {
	p := a.pools[pool]
	if p == nil {
		return false, false
	}
	return compatible(&p.cfg, &svc), p.cfg.AutoAssign
}

// Releasing returns the addresses the Service is releasing.
func (a *Allocator) Releasing(key string) []netip.Addr {
	if r := a.releasing[key]; r != nil {
		return slices.Clone(r.ips)
	}
	return nil
}

type cand struct {
	addr netip.Addr
	pos  pos
}

// segmentFor returns the segment owning a (skipping avoided .0/.255), or nil.
func (a *Allocator) segmentFor(ip netip.Addr) (*segment, u128) {
	segs := a.lookup[famIdx(familyOf(ip))]
	i := sort.Search(len(segs), func(i int) bool { return ip.Less(segs[i].rng.From()) })
	if i == 0 {
		return nil, u128{}
	}
	s := segs[i-1]
	o, ok := s.ord(ip)
	if !ok {
		return nil, u128{}
	}
	return s, o
}

// locate finds the pool holding all ips.
func (a *Allocator) locate(ips []netip.Addr) ([]cand, *poolState, bool) {
	var p *poolState
	cands := make([]cand, 0, len(ips))
	for _, ip := range ips {
		s, o := a.segmentFor(ip)
		if s == nil || (p != nil && s.sp.pool != p) {
			return nil, nil, false
		}
		p = s.sp.pool
		cands = append(cands, cand{ip, pos{s, o}})
	}
	return cands, p, p != nil
}

func compatible(p *Pool, svc *Service) bool {
	al := p.Allocation
	if al == nil {
		return true
	}
	if len(al.Namespaces) > 0 || len(al.NamespaceSelectors) > 0 {
		ok := slices.Contains(al.Namespaces, svc.namespace())
		for _, sel := range al.NamespaceSelectors {
			if ok {
				break
			}
			ok = sel == nil || sel(svc.NamespaceLabels)
		}
		if !ok {
			return false
		}
	}
	if len(al.ServiceSelectors) > 0 {
		for _, sel := range al.ServiceSelectors {
			if sel == nil || sel(svc.Labels) {
				return true
			}
		}
		return false
	}
	return true
}

// checkShare reports whether svc (with key k and ports) may use the address.
func checkShare(svcKey string, use *ipUse, k shareKey, ports []Port) error {
	if use == nil {
		return nil
	}
	if !use.key.sharesWith(k) {
		var others []string
		for _, s := range use.svcs {
			if s != svcKey && s != releasingOwner(svcKey) {
				others = append(others, s)
			}
		}
		if len(others) > 0 {
			return errSharing(svcKey, others)
		}
	}
	for _, p := range ports {
		if cur := use.portOwner(p); cur != "" && cur != svcKey && cur != releasingOwner(svcKey) {
			return errPortInUse(p, use.addr)
		}
	}
	return nil
}

func portsFree(svcKey string, use *ipUse, ports []Port) bool {
	for _, p := range ports {
		if cur := use.portOwner(p); cur != "" && cur != svcKey && cur != releasingOwner(svcKey) {
			return false
		}
	}
	return true
}

// commit records svc's allocation; callers have validated it.
func (a *Allocator) commit(svc *Service, p *poolState, cands []cand) {
	a.release(svc.Key)
	ips := make([]netip.Addr, len(cands))
	for i, c := range cands {
		ips[i] = c.addr
	}
	// The Service takes back everything it was releasing: its status keeps
	// showing these addresses, so the reservation is superseded (and dropping
	// it first lets the address take the Service's current sharing key).
	if r := a.releasing[svc.Key]; r != nil && subset(r.ips, ips) {
		a.EndRelease(svc.Key)
	}
	k := shareKey{svc.SharingKey, svc.BackendKey}
	for _, c := range cands {
		if a.ips[c.addr] == nil {
			a.newUse(c.addr, c.pos, k)
		}
		a.addOwner(a.ips[c.addr], svc.Key, svc.Ports)
	}
	s := *svc
	s.Ports = slices.Clone(svc.Ports)
	s.Families = slices.Clone(svc.Families)
	a.allocs[svc.Key] = &alloc{svc: s, pool: p.cfg.Name, ips: ips}
}

// recommit re-records a kept allocation after SetPools, reusing its record: a
// pool edit re-commits every allocation, so it must not allocate per Service
// more than it has to.
func (a *Allocator) recommit(al *alloc, p *poolState, cands []cand) {
	k := shareKey{al.svc.SharingKey, al.svc.BackendKey}
	for _, c := range cands {
		if a.ips[c.addr] == nil {
			a.newUse(c.addr, c.pos, k)
		}
		a.addOwner(a.ips[c.addr], al.svc.Key, al.svc.Ports)
	}
	al.pool = p.cfg.Name
	a.allocs[al.svc.Key] = al
}

func subset(a, b []netip.Addr) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// newUse marks a free address used under sharing key k.
func (a *Allocator) newUse(addr netip.Addr, at pos, k shareKey) {
	use := &ipUse{addr: addr, pos: at, key: k}
	use.svcs = use.one[:0]
	at.seg.markUsed(at.ord)
	at.seg.sp.assigned++
	a.ips[addr] = use
	if k.sharing != "" {
		gk := groupKey{k, at.seg.sp}
		g := a.groups[gk]
		if g == nil {
			g = newTreap(cmpUse)
			a.groups[gk] = g
		}
		g.insert(use)
	}
}

// twin returns the other owner name of the same Service (its releasing record
// for a Service key, and the reverse) and that owner's ports.
func (a *Allocator) twin(owner string) (string, []Port) {
	if key, ok := strings.CutSuffix(owner, releasingSuffix); ok {
		if al := a.allocs[key]; al != nil {
			return key, al.svc.Ports
		}
		return key, nil
	}
	if r := a.releasing[owner]; r != nil {
		return releasingOwner(owner), r.svc.Ports
	}
	return releasingOwner(owner), nil
}

func (a *Allocator) addOwner(use *ipUse, owner string, ports []Port) {
	use.svcs = append(use.svcs, owner)
	for _, port := range ports {
		if use.portOwner(port) == "" {
			use.ports = append(use.ports, portUse{port, owner})
		}
	}
}

// dropOwner removes owner from the address and frees it when nobody is left,
// reporting whether it did.
func (a *Allocator) dropOwner(use *ipUse, owner string) bool {
	use.svcs = slices.DeleteFunc(use.svcs, func(s string) bool { return s == owner })
	// A Service and its own releasing record may sit on one address with one
	// set of port entries between them: the one staying keeps the ports it has.
	twin, twinPorts := a.twin(owner)
	if !slices.Contains(use.svcs, twin) {
		twinPorts = nil
	}
	for i := range use.ports {
		if use.ports[i].svc == owner && slices.Contains(twinPorts, use.ports[i].port) {
			use.ports[i].svc = twin
		}
	}
	use.ports = slices.DeleteFunc(use.ports, func(pu portUse) bool { return pu.svc == owner })
	if len(use.svcs) > 0 {
		return false
	}
	use.pos.seg.markFree(use.pos.ord)
	use.pos.seg.sp.assigned--
	if use.key.sharing != "" {
		gk := groupKey{use.key, use.pos.seg.sp}
		if g := a.groups[gk]; g != nil {
			g.delete(use)
			if g.n == 0 {
				delete(a.groups, gk)
			}
		}
	}
	delete(a.ips, use.addr)
	return true
}

// release drops key's allocation and returns the addresses no longer used
// by anyone.
func (a *Allocator) release(key string) (freed []netip.Addr) {
	al := a.allocs[key]
	if al == nil {
		return nil
	}
	delete(a.allocs, key)
	for _, ip := range al.ips {
		use := a.ips[ip]
		if use == nil {
			panic("allocator: incoherent state, allocated address not tracked")
		}
		if a.dropOwner(use, key) {
			freed = append(freed, ip)
		}
	}
	return freed
}

// Release drops the Service's allocation and its releasing addresses (the
// Service is gone or shows no address). It returns the addresses that are no
// longer used by any Service (an address still shared by another Service is
// not in the list); nil if the Service held nothing.
func (a *Allocator) Release(key string) (freed []netip.Addr) {
	freed = a.release(key)
	return append(freed, a.EndRelease(key)...)
}

// Get returns the Service's pool and addresses.
func (a *Allocator) Get(key string) (pool string, ips []netip.Addr, ok bool) {
	al := a.allocs[key]
	if al == nil {
		return "", nil, false
	}
	return al.pool, slices.Clone(al.ips), true
}

// PoolNames returns the pool names, sorted.
func (a *Allocator) PoolNames() []string { return slices.Clone(a.names) }

// HasPool reports whether a pool of that name exists.
func (a *Allocator) HasPool(name string) bool { return a.pools[name] != nil }

// PoolForIP returns the pool owning ip ("" and false when none does,
// including a .0/.255 address of a pool that avoids them).
func (a *Allocator) PoolForIP(ip netip.Addr) (string, bool) {
	if !ip.IsValid() {
		return "", false
	}
	s, _ := a.segmentFor(ip.Unmap())
	if s == nil {
		return "", false
	}
	return s.sp.pool.cfg.Name, true
}

// PoolStats returns the pool's counters; zero for an unknown pool.
func (a *Allocator) PoolStats(name string) Stats {
	p := a.pools[name]
	if p == nil {
		return Stats{}
	}
	v4, v6 := p.spaces[0], p.spaces[1]
	return Stats{
		AssignedIPv4:  v4.assigned,
		AssignedIPv6:  v6.assigned,
		AvailableIPv4: v4.capacity.sub(u128{0, uint64(v4.assigned)}).sat(),
		AvailableIPv6: v6.capacity.sub(u128{0, uint64(v6.assigned)}).sat(),
	}
}

// validateIPs normalizes and checks requested addresses against the
// Service's families.
func validateIPs(svc *Service, ips []netip.Addr) ([]netip.Addr, error) {
	if len(ips) == 0 {
		return nil, errf(ErrFamily, "no address requested for %q", svc.Key)
	}
	if len(ips) > 2 {
		return nil, errf(ErrFamily, "more than two addresses %q", fmtIPs(ips))
	}
	out := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		if !ip.IsValid() {
			return nil, errf(ErrInvalid, "invalid address requested for %q", svc.Key)
		}
		out[i] = ip.Unmap().WithZone("")
	}
	if len(out) == 2 && out[0].Is4() == out[1].Is4() {
		return nil, errf(ErrFamily, "%q and %q have the same family", out[0].String(), out[1].String())
	}
	if len(svc.Families) == 0 {
		return out, nil
	}
	fams, dual := svc.wanted()
	if !dual {
		fams = fams[:1]
	}
	ok := len(out) <= len(fams)
	if dual && svc.DualStack == RequireDualStack && len(out) != 2 {
		ok = false
	}
	for _, ip := range out {
		if !slices.Contains(fams, familyOf(ip)) {
			ok = false
		}
	}
	if !ok {
		return nil, errf(ErrFamily, "requested loadBalancer IP(s) %q does not match the ipFamily of the service", fmtIPs(out))
	}
	return out, nil
}

func fmtIPs(ips []netip.Addr) string {
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.String()
	}
	return strings.Join(s, ",")
}

// Assign gives svc exactly the requested addresses (restart re-adoption,
// loadBalancerIPs annotation, spec.loadBalancerIP). With pool != "" the
// addresses must lie in that pool. The addresses must lie in one pool that
// admits the Service, and be free or shareable. Assigning the same
// addresses again is a no-op apart from re-checking ports and keys. It
// returns the pool name.
func (a *Allocator) Assign(svc Service, ips []netip.Addr, pool string) (string, error) {
	if svc.Key == "" {
		return "", errf(ErrInvalid, "service key is empty")
	}
	ips, err := validateIPs(&svc, ips)
	if err != nil {
		return "", err
	}
	if pool != "" && a.pools[pool] == nil {
		return "", errUnknownPool(pool)
	}
	cands := make([]cand, len(ips))
	var p *poolState
	for i, ip := range ips {
		s, o := a.segmentFor(ip)
		if s == nil {
			return "", errNotAllowed(ip)
		}
		sp := s.sp.pool
		if pool != "" && sp.cfg.Name != pool {
			return "", errf(ErrNotAllowed, "%q is not in pool %q", ip.String(), pool)
		}
		if p != nil && sp != p {
			return "", errf(ErrNotAllowed, "%q and %q are not in the same pool", ips[0].String(), ip.String())
		}
		p = sp
		cands[i] = cand{ip, pos{s, o}}
	}
	if !compatible(&p.cfg, &svc) {
		return "", errNotCompatible(p.cfg.Name)
	}
	k := shareKey{svc.SharingKey, svc.BackendKey}
	for _, ip := range ips {
		if err := checkShare(svc.Key, a.ips[ip], k, svc.Ports); err != nil {
			return "", err
		}
	}
	a.commit(&svc, p, cands)
	return p.cfg.Name, nil
}

// candidate returns the best address of the space for svc: the lowest that
// is free, or already shared under svc's key without port clash.
func (a *Allocator) candidate(sp *space, svc *Service) (cand, bool) {
	free, okFree := sp.lowestFree()
	var best cand
	found := false
	if svc.SharingKey != "" {
		if g := a.groups[groupKey{shareKey{svc.SharingKey, svc.BackendKey}, sp}]; g != nil {
			g.ascend(func(u *ipUse) bool {
				if okFree && !u.pos.less(free) {
					return false
				}
				if portsFree(svc.Key, u, svc.Ports) {
					best, found = cand{u.addr, u.pos}, true
					return false
				}
				return true
			})
		}
	}
	if found {
		return best, true
	}
	if okFree {
		return cand{free.seg.addr(free.ord), free}, true
	}
	return cand{}, false
}

// usable reports cheaply whether the space may have a candidate for svc.
func (a *Allocator) usable(sp *space, svc *Service) bool {
	if len(sp.segs) == 0 {
		return false
	}
	if !sp.full() {
		return true
	}
	return svc.SharingKey != "" && a.groups[groupKey{shareKey{svc.SharingKey, svc.BackendKey}, sp}] != nil
}

func (a *Allocator) candidateFor(p *poolState, f Family, svc *Service) (cand, bool) {
	sp := p.spaces[famIdx(f)]
	if !a.usable(sp, svc) {
		return cand{}, false
	}
	return a.candidate(sp, svc)
}

// pick chooses addresses from one pool according to the Service's families
// and policy, MetalLB's selectIPsForFamilyAndPolicy.
func (a *Allocator) pick(p *poolState, svc *Service) ([]cand, bool) {
	fams, dual := svc.wanted()
	c1, ok1 := a.candidateFor(p, fams[0], svc)
	if !dual {
		return []cand{c1}, ok1
	}
	c2, ok2 := a.candidateFor(p, fams[1], svc)
	switch {
	case ok1 && ok2:
		return []cand{c1, c2}, true
	case svc.DualStack != PreferDualStack:
		return nil, false
	case ok1:
		return []cand{c1}, true
	case ok2:
		return []cand{c2}, true
	}
	return nil, false
}

// findBest is MetalLB's findBestPoolForService over an ordered pool list.
func (a *Allocator) findBest(pools []*poolState, svc *Service) (*poolState, []cand, bool) {
	fams, dual := svc.wanted()
	if !dual {
		for _, p := range pools {
			if c, ok := a.candidateFor(p, fams[0], svc); ok {
				return p, []cand{c}, true
			}
		}
		return nil, nil, false
	}
	var primP, secP *poolState
	var prim, sec cand
	for _, p := range pools {
		c1, ok1 := a.candidateFor(p, fams[0], svc)
		c2, ok2 := a.candidateFor(p, fams[1], svc)
		if ok1 && ok2 {
			return p, []cand{c1, c2}, true
		}
		if svc.DualStack != PreferDualStack {
			continue
		}
		if ok1 && primP == nil {
			primP, prim = p, c1
		}
		if ok2 && secP == nil {
			secP, sec = p, c2
		}
	}
	if primP != nil {
		return primP, []cand{prim}, true
	}
	if secP != nil {
		return secP, []cand{sec}, true
	}
	return nil, nil, false
}

// reassign re-validates a Service's current allocation (MetalLB's
// Allocate/AllocateFromPool on an allocated Service).
func (a *Allocator) reassign(svc Service, al *alloc, pool string) (string, []netip.Addr, error) {
	ips := slices.Clone(al.ips)
	name, err := a.Assign(svc, ips, pool)
	if err != nil {
		return "", nil, err
	}
	return name, ips, nil
}

// Allocate gives svc addresses from the best pool: first the autoAssign
// pools whose serviceAllocation admits it, by priority then name; then the
// autoAssign pools without serviceAllocation, by name. If svc already holds
// addresses they are re-validated (ports, keys, pool compatibility) and
// returned. Failure is ErrNoAvailableIPs ("no available IPs").
func (a *Allocator) Allocate(svc Service) (pool string, ips []netip.Addr, err error) {
	if svc.Key == "" {
		return "", nil, errf(ErrInvalid, "service key is empty")
	}
	if al := a.allocs[svc.Key]; al != nil {
		return a.reassign(svc, al, "")
	}
	var pinned []*poolState
	for _, p := range a.withSA {
		if compatible(&p.cfg, &svc) {
			pinned = append(pinned, p)
		}
	}
	sort.SliceStable(pinned, func(i, j int) bool {
		pi, pj := pinned[i].cfg.Allocation.Priority, pinned[j].cfg.Allocation.Priority
		if pi > 0 && pj > 0 {
			return pi < pj
		}
		return pi > 0 && pj <= 0
	})
	for _, list := range [][]*poolState{pinned, a.fallback} {
		if p, cands, ok := a.findBest(list, &svc); ok {
			a.commit(&svc, p, cands)
			return p.cfg.Name, candAddrs(cands), nil
		}
	}
	return "", nil, errNoAvailable()
}

func candAddrs(c []cand) []netip.Addr {
	out := make([]netip.Addr, len(c))
	for i := range c {
		out[i] = c[i].addr
	}
	return out
}

// AllocateFromPool gives svc addresses from the named pool, ignoring
// autoAssign but enforcing serviceAllocation. If svc already holds
// addresses from that pool they are re-validated and returned; if it holds
// addresses from another pool it is moved only on success.
func (a *Allocator) AllocateFromPool(svc Service, pool string) ([]netip.Addr, error) {
	if svc.Key == "" {
		return nil, errf(ErrInvalid, "service key is empty")
	}
	p := a.pools[pool]
	if p == nil {
		return nil, errUnknownPool(pool)
	}
	if al := a.allocs[svc.Key]; al != nil && al.pool == pool {
		_, ips, err := a.reassign(svc, al, pool)
		return ips, err
	}
	if !compatible(&p.cfg, &svc) {
		return nil, errNotCompatible(pool)
	}
	cands, ok := a.pick(p, &svc)
	if !ok {
		return nil, errNoAvailableInPool(pool)
	}
	a.commit(&svc, p, cands)
	return candAddrs(cands), nil
}

// AllocateAdditionalFamily adds the missing family to a PreferDualStack
// Service that holds one address, from the same pool, keeping the existing
// address. It returns the new address.
func (a *Allocator) AllocateAdditionalFamily(svc Service) (netip.Addr, error) {
	al := a.allocs[svc.Key]
	if al == nil {
		return netip.Addr{}, errf(ErrNotAllocated, "service %q has no allocation", svc.Key)
	}
	if len(al.ips) != 1 {
		return netip.Addr{}, errf(ErrFamily, "service %q already has %d addresses", svc.Key, len(al.ips))
	}
	other := IPv6
	if familyOf(al.ips[0]) == IPv6 {
		other = IPv4
	}
	fams, dual := svc.wanted()
	if !dual || !slices.Contains(fams, other) {
		return netip.Addr{}, errf(ErrFamily, "service %q does not want an %s address", svc.Key, other)
	}
	p := a.pools[al.pool]
	c, ok := a.candidateFor(p, other, &svc)
	if !ok {
		return netip.Addr{}, errNoAvailableInPool(al.pool)
	}
	ips := []netip.Addr{al.ips[0], c.addr}
	if fams[0] == other {
		ips[0], ips[1] = ips[1], ips[0]
	}
	if _, err := a.Assign(svc, ips, al.pool); err != nil {
		return netip.Addr{}, err
	}
	return c.addr, nil
}
