package allocator

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/ipnet"
	"go4.org/netipx"
)

// ---- helpers ---------------------------------------------------------------

func pl(name string, addrs ...string) Pool {
	rs, err := ipnet.ParseAddresses(addrs)
	if err != nil {
		panic(err)
	}
	return Pool{Name: name, Ranges: rs, AutoAssign: true}
}

func noAuto(p Pool) Pool { p.AutoAssign = false; return p }
func buggy(p Pool) Pool  { p.AvoidBuggyIPs = true; return p }
func with(p Pool, al PoolAllocation) Pool {
	p.Allocation = &al
	return p
}

func match(k, v string) Selector {
	return func(m map[string]string) bool { return m[k] == v }
}

func tcp(ports ...int32) []Port {
	var out []Port
	for _, p := range ports {
		out = append(out, Port{"TCP", p})
	}
	return out
}

func udp(ports ...int32) []Port {
	var out []Port
	for _, p := range ports {
		out = append(out, Port{"UDP", p})
	}
	return out
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

var (
	dual4  = []Family{IPv4, IPv6}
	dual6  = []Family{IPv6, IPv4}
	only6  = []Family{IPv6}
	only4  = []Family{IPv4}
	v6svc  = Service{Families: only6}
	reqDS  = Service{Families: dual4, DualStack: RequireDualStack}
	prefDS = Service{Families: dual4, DualStack: PreferDualStack}
)

// sv returns base with Key set (base gives families, keys, ports...).
func sv(key string, base ...Service) Service {
	var s Service
	if len(base) > 0 {
		s = base[0]
	}
	s.Key = key
	return s
}

type op int

const (
	opAssign op = iota
	opAlloc
	opFromPool
	opRelease
	opExtra
	opSetPools
	opRetire
	opEndRelease
)

type step struct {
	op    op
	svc   Service
	ips   []string // requested (opAssign)
	pool  string   // opAssign constraint / opFromPool pool
	pools []Pool   // opSetPools
	key   string   // opRelease

	want     []string // resulting IPs (opAssign: Get afterwards)
	wantPool string
	wantErr  string // exact message; "" = success
	wantIs   error
	evicted  []string
	freed    []string
}

func assign(s Service, pool string, ips ...string) step {
	return step{op: opAssign, svc: s, ips: ips, pool: pool, want: ips}
}
func allocate(s Service, want ...string) step { return step{op: opAlloc, svc: s, want: want} }
func fromPool(s Service, pool string, want ...string) step {
	return step{op: opFromPool, svc: s, pool: pool, want: want}
}
func release(key string, freed ...string) step { return step{op: opRelease, key: key, freed: freed} }
func setPools(evicted []string, pools ...Pool) step {
	return step{op: opSetPools, pools: pools, evicted: evicted}
}
func retire(key string, retired ...string) step {
	return step{op: opRetire, key: key, want: retired}
}
func endRelease(key string, freed ...string) step {
	return step{op: opEndRelease, key: key, freed: freed}
}
func (s step) err(msg string, is error) step { s.wantErr, s.wantIs, s.want = msg, is, nil; return s }
func (s step) in(pool string) step           { s.wantPool = pool; return s }

type tcase struct {
	pools []Pool
	steps []step
}

func run(t *testing.T, tc tcase) *Allocator {
	t.Helper()
	a := New()
	if ev := a.SetPools(tc.pools); len(ev) != 0 {
		t.Fatalf("initial SetPools evicted %v", ev)
	}
	for i, st := range tc.steps {
		var (
			got     []netip.Addr
			gotPool string
			err     error
		)
		switch st.op {
		case opAssign:
			gotPool, err = a.Assign(st.svc, addrs(st.ips...), st.pool)
			if err == nil {
				_, got, _ = a.Get(st.svc.Key)
			}
		case opAlloc:
			gotPool, got, err = a.Allocate(st.svc)
		case opFromPool:
			got, err = a.AllocateFromPool(st.svc, st.pool)
			gotPool, _, _ = a.Get(st.svc.Key)
		case opExtra:
			var ip netip.Addr
			ip, err = a.AllocateAdditionalFamily(st.svc)
			if err == nil {
				got = []netip.Addr{ip}
			}
		case opRelease:
			freed := a.Release(st.key)
			if fmt.Sprint(freed) != fmt.Sprint(addrs(st.freed...)) {
				t.Fatalf("step %d: Release(%s) freed %v, want %v", i, st.key, freed, st.freed)
			}
		case opRetire:
			got = a.Retire(st.key)
		case opEndRelease:
			freed := a.EndRelease(st.key)
			if fmt.Sprint(freed) != fmt.Sprint(addrs(st.freed...)) {
				t.Fatalf("step %d: EndRelease(%s) freed %v, want %v", i, st.key, freed, st.freed)
			}
		case opSetPools:
			ev := a.SetPools(st.pools)
			if !slices.Equal(ev, st.evicted) {
				t.Fatalf("step %d: SetPools evicted %q, want %q", i, ev, st.evicted)
			}
		}
		if st.op != opRelease && st.op != opSetPools && st.op != opEndRelease {
			if st.wantErr != "" || st.wantIs != nil {
				if err == nil {
					t.Fatalf("step %d: got %v from %q, want error %q", i, got, gotPool, st.wantErr)
				}
				if st.wantErr != "" && err.Error() != st.wantErr {
					t.Fatalf("step %d: error %q, want %q", i, err, st.wantErr)
				}
				if st.wantIs != nil && !errors.Is(err, st.wantIs) {
					t.Fatalf("step %d: error %q is not %v", i, err, st.wantIs)
				}
			} else {
				if err != nil {
					t.Fatalf("step %d: unexpected error %v", i, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(addrs(st.want...)) {
					t.Fatalf("step %d: got %v, want %v", i, got, st.want)
				}
				if st.wantPool != "" && gotPool != st.wantPool {
					t.Fatalf("step %d: pool %q, want %q", i, gotPool, st.wantPool)
				}
			}
		}
		checkInvariants(t, a)
	}
	return a
}

// checkInvariants recomputes everything from the allocations.
func checkInvariants(t testing.TB, a *Allocator) {
	t.Helper()
	type use struct {
		keys  map[shareKey]bool
		svcs  []string
		ports map[Port]string
		pool  string
	}
	uses := map[netip.Addr]*use{}
	for key, al := range a.allocs {
		if al.svc.Key != key {
			t.Fatalf("alloc key %q holds service %q", key, al.svc.Key)
		}
		p := a.pools[al.pool]
		if p == nil {
			t.Fatalf("%s: allocated from missing pool %q", key, al.pool)
		}
		if !compatible(&p.cfg, &al.svc) {
			t.Fatalf("%s: pool %q is not compatible", key, al.pool)
		}
		if len(al.ips) == 0 || len(al.ips) > 2 || (len(al.ips) == 2 && al.ips[0].Is4() == al.ips[1].Is4()) {
			t.Fatalf("%s: bad address set %v", key, al.ips)
		}
		for _, ip := range al.ips {
			in := false
			for _, r := range p.cfg.Ranges {
				in = in || r.Contains(ip)
			}
			if !in {
				t.Fatalf("%s: %v is not in pool %q", key, ip, al.pool)
			}
			if p.cfg.AvoidBuggyIPs && ipnet.IsBuggy(ip) {
				t.Fatalf("%s: buggy %v from pool %q", key, ip, al.pool)
			}
			u := uses[ip]
			if u == nil {
				u = &use{keys: map[shareKey]bool{}, ports: map[Port]string{}, pool: al.pool}
				uses[ip] = u
			}
			if u.pool != al.pool {
				t.Fatalf("%v in two pools", ip)
			}
			u.keys[shareKey{al.svc.SharingKey, al.svc.BackendKey}] = true
			u.svcs = append(u.svcs, key)
			for _, port := range al.svc.Ports {
				if other, ok := u.ports[port]; ok && other != key {
					t.Fatalf("%v: port %v used by %s and %s", ip, port, other, key)
				}
				u.ports[port] = key
			}
		}
	}
	// Releasing addresses stay in use under their own owner name.
	for key, r := range a.releasing {
		owner := releasingOwner(key)
		for _, ip := range r.ips {
			s, _ := a.segmentFor(ip)
			if s == nil {
				continue
			}
			u := uses[ip]
			if u == nil {
				u = &use{keys: map[shareKey]bool{}, ports: map[Port]string{}, pool: s.sp.pool.cfg.Name}
				uses[ip] = u
			}
			// A releasing owner's key is the one its address was given under,
			// which the Service may have changed since: only live owners' keys
			// must agree. Nobody joins a releasing address but under its key.
			// Its ports are checked below only for being held by an owner of
			// the address: a releasing record holds the union of the ports it
			// was released with.
			u.svcs = append(u.svcs, owner)
		}
	}
	for ip, u := range uses {
		if distinctServices(u.svcs) > 1 && len(u.keys) > 0 {
			if len(u.keys) != 1 {
				t.Fatalf("%v shared by %v with different keys %v", ip, u.svcs, u.keys)
			}
			for k := range u.keys {
				if k.sharing == "" {
					t.Fatalf("%v shared by %v without a sharing key", ip, u.svcs)
				}
			}
		}
		st := a.ips[ip]
		if st == nil {
			t.Fatalf("%v in use but not tracked", ip)
		}
		got, want := slices.Sorted(slices.Values(st.svcs)), slices.Sorted(slices.Values(u.svcs))
		if !slices.Equal(got, want) {
			t.Fatalf("%v: tracked services %v, want %v", ip, got, want)
		}
		tracked := map[Port]string{}
		for _, pu := range st.ports {
			if _, dup := tracked[pu.port]; dup || !slices.Contains(st.svcs, pu.svc) {
				t.Fatalf("%v: tracked ports %v, owners %v", ip, st.ports, st.svcs)
			}
			tracked[pu.port] = pu.svc
		}
		for port, owner := range u.ports {
			// A Service and its own releasing addresses are one owner.
			if strings.TrimSuffix(tracked[port], " (releasing)") != owner {
				t.Fatalf("%v: tracked ports %v, want %v", ip, st.ports, u.ports)
			}
		}
		if st.addr != ip || st.pos.seg.addr(st.pos.ord) != ip {
			t.Fatalf("%v: bad position", ip)
		}
	}
	if len(a.ips) != len(uses) {
		t.Fatalf("tracking %d addresses, %d in use", len(a.ips), len(uses))
	}
	// Stats equal a recount.
	var prs []ipnet.PoolRanges
	for _, name := range a.names {
		prs = append(prs, ipnet.PoolRanges{Name: name, Ranges: a.pools[name].cfg.Ranges})
	}
	overlap := ipnet.FindOverlap(prs) != nil
	for _, name := range a.names {
		var n4, n6 int64
		for ip, u := range uses {
			if u.pool == name {
				if ip.Is4() {
					n4++
				} else {
					n6++
				}
			}
		}
		p := a.pools[name]
		c4, c6 := ipnet.Count(p.cfg.Ranges, p.cfg.AvoidBuggyIPs)
		st := a.PoolStats(name)
		want := Stats{n4, n6, c4 - n4, c6 - n6}
		if c6 == math.MaxInt64 {
			want.AvailableIPv6 = st.AvailableIPv6 // saturated; checked elsewhere
		}
		if overlap { // capacity is not the raw count; assigned still is
			want.AvailableIPv4, want.AvailableIPv6 = st.AvailableIPv4, st.AvailableIPv6
		}
		if st != want {
			t.Fatalf("pool %s: stats %+v, recount %+v", name, st, want)
		}
		// Used intervals agree with the tracked addresses.
		for fi, sp := range p.spaces {
			var used int64
			for _, s := range sp.segs {
				s.used.ascend(func(iv interval) bool {
					used += int64(iv.hi.sub(iv.lo).inc().lo)
					return true
				})
			}
			if used != sp.assigned {
				t.Fatalf("pool %s family %d: %d used ordinals, %d assigned", name, fi, used, sp.assigned)
			}
		}
	}
}

// distinctServices counts the Services on an address, a Service and its own
// releasing addresses counting once.
func distinctServices(owners []string) int {
	seen := map[string]bool{}
	for _, o := range owners {
		seen[strings.TrimSuffix(o, " (releasing)")] = true
	}
	return len(seen)
}

func runCases(t *testing.T, cases map[string]tcase) {
	t.Helper()
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) { run(t, cases[name]) })
	}
}

// ---- tests -----------------------------------------------------------------

func TestAssignment(t *testing.T) {
	p4 := pl("test", "1.2.3.4/31", "1000::4/127")
	p6 := pl("test", "1000::4/127")
	shared := func(key, sk string, ports []Port) Service {
		return Service{Key: key, SharingKey: sk, Ports: ports}
	}
	runCases(t, map[string]tcase{
		"assign v4 then idempotent re-assign": {pools: []Pool{p4}, steps: []step{
			assign(sv("ns/a"), "", "1.2.3.4").in("test"),
			assign(sv("ns/a"), "", "1.2.3.4").in("test"),
		}},
		"assign v6 then idempotent re-assign": {pools: []Pool{p6}, steps: []step{
			assign(sv("ns/a", v6svc), "", "1000::4"),
			assign(sv("ns/a", v6svc), "", "1000::4"),
		}},
		"conflict with another service": {pools: []Pool{p4}, steps: []step{
			assign(sv("ns/a"), "", "1.2.3.4"),
			assign(sv("ns/b"), "", "1.2.3.4").err(`can't change sharing key for "ns/b", address also in use by ns/a`, ErrSharing),
		}},
		"conflict v6": {pools: []Pool{p6}, steps: []step{
			assign(sv("ns/a", v6svc), "", "1000::4"),
			assign(sv("ns/b", v6svc), "", "1000::4").err(`can't change sharing key for "ns/b", address also in use by ns/a`, ErrSharing),
		}},
		"free and re-grab": {pools: []Pool{p4}, steps: []step{
			assign(sv("ns/a"), "", "1.2.3.4"),
			release("ns/a", "1.2.3.4"),
			release("ns/a"),
			assign(sv("ns/b"), "", "1.2.3.4"),
		}},
		"move to another ip": {pools: []Pool{p4}, steps: []step{
			assign(sv("ns/a"), "", "1.2.3.4"),
			assign(sv("ns/a"), "", "1.2.3.5"),
			assign(sv("ns/b"), "", "1.2.3.4"),
		}},
		"not in config": {pools: []Pool{p4}, steps: []step{
			assign(sv("ns/a"), "", "4.3.2.1").err(`"4.3.2.1" is not allowed in config`, ErrNotAllowed),
			assign(sv("ns/a", v6svc), "", "2000::1").err(`"2000::1" is not allowed in config`, ErrNotAllowed),
		}},
		"no pools at all": {steps: []step{
			assign(sv("ns/a"), "", "1.2.3.4").err(`"1.2.3.4" is not allowed in config`, ErrNotAllowed),
			allocate(sv("ns/a")).err("no available IPs", ErrNoAvailableIPs),
		}},
		"unknown pool constraint": {pools: []Pool{p4}, steps: []step{
			assign(sv("ns/a"), "x", "1.2.3.4").err(`unknown pool "x"`, ErrUnknownPool),
		}},
		"ip not in the named pool": {pools: []Pool{p4, pl("other", "10.0.0.0/24")}, steps: []step{
			assign(sv("ns/a"), "other", "1.2.3.4").err(`"1.2.3.4" is not in pool "other"`, ErrNotAllowed),
			assign(sv("ns/a"), "other", "10.0.0.7").in("other"),
		}},
		"ipv4-mapped request is treated as ipv4": {pools: []Pool{p4}, steps: []step{
			step{op: opAssign, svc: sv("ns/a"), ips: []string{"::ffff:1.2.3.5"}, want: []string{"1.2.3.5"}},
		}},
		"invalid address": {pools: []Pool{p4}, steps: []step{
			step{op: opAssign, svc: sv("ns/a")}.err("no address requested for \"ns/a\"", ErrFamily),
		}},
		"empty key": {pools: []Pool{p4}, steps: []step{
			assign(Service{}, "", "1.2.3.4").err("service key is empty", ErrInvalid),
			allocate(Service{}).err("service key is empty", ErrInvalid),
		}},
		"wrong family for service": {pools: []Pool{p4}, steps: []step{
			assign(sv("ns/a", Service{Families: only4}), "", "1000::4").err(
				`requested loadBalancer IP(s) "1000::4" does not match the ipFamily of the service`, ErrFamily),
			assign(sv("ns/a", v6svc), "", "1.2.3.4").err(
				`requested loadBalancer IP(s) "1.2.3.4" does not match the ipFamily of the service`, ErrFamily),
			assign(sv("ns/a", Service{Families: only4}), "", "1.2.3.4", "1000::4").err(
				`requested loadBalancer IP(s) "1.2.3.4,1000::4" does not match the ipFamily of the service`, ErrFamily),
		}},
		// sharing (category 3)
		"share with same key and disjoint ports": {pools: []Pool{p4}, steps: []step{
			assign(shared("ns/a", "k", tcp(80)), "", "1.2.3.4"),
			assign(shared("ns/b", "k", tcp(443)), "", "1.2.3.4"),
			release("ns/a"),
			release("ns/b", "1.2.3.4"),
		}},
		"tcp and udp on the same port share": {pools: []Pool{p4}, steps: []step{
			assign(shared("ns/a", "k", tcp(53)), "", "1.2.3.4"),
			assign(shared("ns/b", "k", udp(53)), "", "1.2.3.4"),
		}},
		"port conflict": {pools: []Pool{p4}, steps: []step{
			assign(shared("ns/a", "k", tcp(80)), "", "1.2.3.4"),
			assign(shared("ns/b", "k", tcp(80)), "", "1.2.3.4").err(`port TCP/80 is already in use on "1.2.3.4"`, ErrPortInUse),
		}},
		"wrong sharing key": {pools: []Pool{p4}, steps: []step{
			assign(shared("ns/a", "k", tcp(80)), "", "1.2.3.4"),
			assign(shared("ns/b", "other", tcp(443)), "", "1.2.3.4").err(`can't change sharing key for "ns/b", address also in use by ns/a`, ErrSharing),
		}},
		"new service without key cannot join": {pools: []Pool{p4}, steps: []step{
			assign(shared("ns/a", "k", tcp(80)), "", "1.2.3.4"),
			assign(shared("ns/b", "", tcp(443)), "", "1.2.3.4").err(`can't change sharing key for "ns/b", address also in use by ns/a`, ErrSharing),
		}},
		"wrong backend key": {pools: []Pool{p4}, steps: []step{
			assign(Service{Key: "ns/a", SharingKey: "k", BackendKey: "app=a", Ports: tcp(80)}, "", "1.2.3.4"),
			assign(Service{Key: "ns/b", SharingKey: "k", BackendKey: "app=b", Ports: tcp(443)}, "", "1.2.3.4").err(
				`can't change sharing key for "ns/b", address also in use by ns/a`, ErrSharing),
			assign(Service{Key: "ns/c", SharingKey: "k", Ports: tcp(443)}, "", "1.2.3.4").err(
				`can't change sharing key for "ns/c", address also in use by ns/a`, ErrSharing),
			assign(Service{Key: "ns/d", SharingKey: "k", BackendKey: "app=a", Ports: tcp(443)}, "", "1.2.3.4"),
		}},
		"change key in place when alone": {pools: []Pool{p4}, steps: []step{
			assign(shared("ns/a", "k", tcp(80)), "", "1.2.3.4"),
			assign(shared("ns/a", "other", tcp(80)), "", "1.2.3.4"),
			assign(shared("ns/a", "", tcp(80)), "", "1.2.3.4"),
			assign(shared("ns/b", "other", tcp(81)), "", "1.2.3.4").err(`can't change sharing key for "ns/b", address also in use by ns/a`, ErrSharing),
		}},
		"cannot change key or backend while shared": {pools: []Pool{p4}, steps: []step{
			assign(shared("ns/a", "k", tcp(80)), "", "1.2.3.4"),
			assign(shared("ns/b", "k", tcp(81)), "", "1.2.3.4"),
			assign(shared("ns/c", "k", tcp(82)), "", "1.2.3.4"),
			assign(shared("ns/a", "other", tcp(80)), "", "1.2.3.4").err(`can't change sharing key for "ns/a", address also in use by ns/b,ns/c`, ErrSharing),
			assign(Service{Key: "ns/a", SharingKey: "k", BackendKey: "x", Ports: tcp(80)}, "", "1.2.3.4").err(
				`can't change sharing key for "ns/a", address also in use by ns/b,ns/c`, ErrSharing),
		}},
		"change ports while keeping the ip": {pools: []Pool{p4}, steps: []step{
			assign(shared("ns/a", "k", tcp(80)), "", "1.2.3.4"),
			assign(shared("ns/b", "k", tcp(443)), "", "1.2.3.4"),
			assign(shared("ns/a", "k", tcp(80, 8080)), "", "1.2.3.4"),
			assign(shared("ns/a", "k", tcp(443)), "", "1.2.3.4").err(`port TCP/443 is already in use on "1.2.3.4"`, ErrPortInUse),
			assign(shared("ns/b", "k", tcp(8080)), "", "1.2.3.4").err(`port TCP/8080 is already in use on "1.2.3.4"`, ErrPortInUse),
			assign(shared("ns/a", "k", tcp(81)), "", "1.2.3.4"),
			assign(shared("ns/b", "k", tcp(8080)), "", "1.2.3.4"),
		}},
		"shared ip in v6": {pools: []Pool{p6}, steps: []step{
			assign(Service{Key: "ns/a", Families: only6, SharingKey: "k", Ports: tcp(80)}, "", "1000::5"),
			assign(Service{Key: "ns/b", Families: only6, SharingKey: "k", Ports: tcp(81)}, "", "1000::5"),
			assign(Service{Key: "ns/c", Families: only6, SharingKey: "k", Ports: tcp(81)}, "", "1000::5").err(`port TCP/81 is already in use on "1000::5"`, ErrPortInUse),
		}},
		// dual stack (category 4)
		"dual-stack assign": {pools: []Pool{p4}, steps: []step{
			assign(sv("ns/a", reqDS), "", "1.2.3.4", "1000::4"),
			assign(sv("ns/a", reqDS), "", "1.2.3.4", "1000::4"),
			assign(sv("ns/b", reqDS), "", "1.2.3.5", "1000::4").err(`can't change sharing key for "ns/b", address also in use by ns/a`, ErrSharing),
			assign(sv("ns/b", reqDS), "", "1.2.3.5", "1000::5"),
		}},
		"dual-stack from different pools is rejected": {pools: []Pool{pl("v4", "1.2.3.4/31"), pl("v6", "1000::4/127")}, steps: []step{
			assign(sv("ns/a", reqDS), "", "1.2.3.4", "1000::4").err(`"1.2.3.4" and "1000::4" are not in the same pool`, ErrNotAllowed),
		}},
		"dual-stack needs two families": {pools: []Pool{p4}, steps: []step{
			assign(sv("ns/a", reqDS), "", "1.2.3.4", "1.2.3.5").err(`"1.2.3.4" and "1.2.3.5" have the same family`, ErrFamily),
			assign(sv("ns/a", reqDS), "", "1.2.3.4").err(`requested loadBalancer IP(s) "1.2.3.4" does not match the ipFamily of the service`, ErrFamily),
			assign(sv("ns/a", reqDS), "", "1.2.3.4", "1000::4", "1.2.3.5").err(`more than two addresses "1.2.3.4,1000::4,1.2.3.5"`, ErrFamily),
			assign(sv("ns/a", prefDS), "", "1000::4"),
		}},
	})
}

func TestBuggyIPs(t *testing.T) {
	runCases(t, map[string]tcase{
		"assign .0 and .255 rejected when avoiding": {pools: []Pool{buggy(pl("p", "1.2.3.0/24"))}, steps: []step{
			assign(sv("ns/a"), "", "1.2.3.0").err(`"1.2.3.0" is not allowed in config`, ErrNotAllowed),
			assign(sv("ns/a"), "", "1.2.3.255").err(`"1.2.3.255" is not allowed in config`, ErrNotAllowed),
			assign(sv("ns/a"), "", "1.2.3.1"),
			assign(sv("ns/b"), "", "1.2.3.254"),
		}},
		"assign .0 and .255 fine without avoiding": {pools: []Pool{pl("p", "1.2.3.0/24")}, steps: []step{
			assign(sv("ns/a"), "", "1.2.3.0"),
			assign(sv("ns/b"), "", "1.2.3.255"),
		}},
		"allocation skips .0 and .255 across /24s": {pools: []Pool{buggy(pl("p", "1.2.2.254-1.2.3.1"))}, steps: []step{
			allocate(sv("ns/a"), "1.2.2.254"),
			allocate(sv("ns/b"), "1.2.3.1"),
			allocate(sv("ns/c")).err("no available IPs", ErrNoAvailableIPs),
		}},
		"allocation starts at .0 without avoiding": {pools: []Pool{pl("p", "1.2.3.0/24")}, steps: []step{
			allocate(sv("ns/a"), "1.2.3.0"),
		}},
		"only buggy addresses": {pools: []Pool{buggy(pl("p", "1.2.3.255-1.2.4.0"))}, steps: []step{
			allocate(sv("ns/a")).err("no available IPs", ErrNoAvailableIPs),
			fromPool(sv("ns/a"), "p").err(`no available IPs in pool "p"`, ErrNoAvailableIPs),
		}},
		"ipv6 is never buggy": {pools: []Pool{buggy(pl("p", "1000::/127"))}, steps: []step{
			allocate(sv("ns/a", v6svc), "1000::"),
			allocate(sv("ns/b", v6svc), "1000::1"),
		}},
		"buggy address may belong to another pool": {pools: []Pool{buggy(pl("a", "1.2.3.1-1.2.3.254")), pl("b", "1.2.3.0/32")}, steps: []step{
			assign(sv("ns/a"), "", "1.2.3.0").in("b"),
		}},
	})
}

func TestAllocation(t *testing.T) {
	runCases(t, map[string]tcase{
		"lowest free first and freed reused": {pools: []Pool{pl("p", "1.2.3.4/30")}, steps: []step{
			allocate(sv("ns/a"), "1.2.3.4"),
			allocate(sv("ns/b"), "1.2.3.5"),
			allocate(sv("ns/c"), "1.2.3.6"),
			release("ns/b", "1.2.3.5"),
			allocate(sv("ns/d"), "1.2.3.5"),
			allocate(sv("ns/e"), "1.2.3.7"),
			allocate(sv("ns/f")).err("no available IPs", ErrNoAvailableIPs),
			release("ns/a", "1.2.3.4"),
			allocate(sv("ns/f"), "1.2.3.4"),
		}},
		"ranges in spec order": {pools: []Pool{pl("p", "10.0.1.0/31", "10.0.0.0/31")}, steps: []step{
			allocate(sv("ns/a"), "10.0.1.0"),
			allocate(sv("ns/b"), "10.0.1.1"),
			allocate(sv("ns/c"), "10.0.0.0"),
			release("ns/a", "10.0.1.0"),
			allocate(sv("ns/d"), "10.0.1.0"),
		}},
		"ranges not aligned to prefixes": {pools: []Pool{pl("p", "10.0.0.3 - 10.0.0.5")}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.3"),
			allocate(sv("ns/b"), "10.0.0.4"),
			allocate(sv("ns/c"), "10.0.0.5"),
			allocate(sv("ns/d")).err("no available IPs", ErrNoAvailableIPs),
		}},
		"adopted addresses are skipped": {pools: []Pool{pl("p", "10.0.0.0/29")}, steps: []step{
			assign(sv("ns/x"), "", "10.0.0.0"),
			assign(sv("ns/y"), "", "10.0.0.2"),
			allocate(sv("ns/a"), "10.0.0.1"),
			allocate(sv("ns/b"), "10.0.0.3"),
		}},
		"allocate again returns the same": {pools: []Pool{pl("p", "10.0.0.0/29")}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			allocate(sv("ns/a"), "10.0.0.0"),
			fromPool(sv("ns/a"), "p", "10.0.0.0"),
		}},
		"allocate re-validates ports of an allocated service": {pools: []Pool{pl("p", "10.0.0.0/29")}, steps: []step{
			allocate(Service{Key: "ns/a", SharingKey: "k", Ports: tcp(80)}, "10.0.0.0"),
			allocate(Service{Key: "ns/b", SharingKey: "k", Ports: tcp(81)}, "10.0.0.0"),
			allocate(Service{Key: "ns/b", SharingKey: "k", Ports: tcp(80)}).err(`port TCP/80 is already in use on "10.0.0.0"`, ErrPortInUse),
		}},
		"v6 single stack": {pools: []Pool{pl("p", "10.0.0.0/31", "1000::/127")}, steps: []step{
			allocate(sv("ns/a", v6svc), "1000::"),
			allocate(sv("ns/b"), "10.0.0.0"),
			allocate(sv("ns/c", v6svc), "1000::1"),
			allocate(sv("ns/d", v6svc)).err("no available IPs", ErrNoAvailableIPs),
			allocate(sv("ns/e"), "10.0.0.1"),
		}},
		"ipv6 /64": {pools: []Pool{pl("p", "2001:db8::/64")}, steps: []step{
			allocate(sv("ns/a", v6svc), "2001:db8::"),
			allocate(sv("ns/b", v6svc), "2001:db8::1"),
			assign(sv("ns/c", v6svc), "", "2001:db8::ffff:ffff:ffff:ffff"),
			release("ns/a", "2001:db8::"),
			allocate(sv("ns/d", v6svc), "2001:db8::"),
			allocate(sv("ns/e", v6svc), "2001:db8::2"),
		}},
		"ipv6 ::/0": {pools: []Pool{pl("p", "::/0")}, steps: []step{
			assign(sv("ns/a", v6svc), "", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
			allocate(sv("ns/b", v6svc), "::"),
			allocate(sv("ns/c", v6svc), "::1"),
		}},
		"ipv4 0.0.0.0/0 edges": {pools: []Pool{pl("p", "0.0.0.0/0")}, steps: []step{
			assign(sv("ns/a"), "", "255.255.255.255"),
			allocate(sv("ns/b"), "0.0.0.0"),
		}},
		"sharing fills the lowest shareable address": {pools: []Pool{pl("p", "10.0.0.0/30")}, steps: []step{
			allocate(Service{Key: "ns/a", SharingKey: "k", Ports: tcp(80)}, "10.0.0.0"),
			allocate(Service{Key: "ns/b", Ports: tcp(81)}, "10.0.0.1"),
			allocate(Service{Key: "ns/c", SharingKey: "k", Ports: tcp(81)}, "10.0.0.0"),
			allocate(Service{Key: "ns/d", SharingKey: "k", Ports: tcp(80)}, "10.0.0.2"),
			allocate(Service{Key: "ns/e", SharingKey: "k", Ports: tcp(80)}, "10.0.0.3"),
			allocate(Service{Key: "ns/f", SharingKey: "k", Ports: tcp(81)}, "10.0.0.2"),
			allocate(Service{Key: "ns/g", SharingKey: "other", Ports: tcp(90)}).err("no available IPs", ErrNoAvailableIPs),
			allocate(Service{Key: "ns/g", SharingKey: "k", Ports: tcp(90)}, "10.0.0.0"),
			release("ns/a"),
			release("ns/c"),
			release("ns/g", "10.0.0.0"),
			allocate(Service{Key: "ns/h", SharingKey: "other", Ports: tcp(90)}, "10.0.0.0"),
		}},
		"free address below the shared one wins": {pools: []Pool{pl("p", "10.0.0.0/30")}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			allocate(Service{Key: "ns/b", SharingKey: "k", Ports: tcp(80)}, "10.0.0.1"),
			release("ns/a", "10.0.0.0"),
			allocate(Service{Key: "ns/c", SharingKey: "k", Ports: tcp(81)}, "10.0.0.0"),
		}},
		"sharing respects backend key": {pools: []Pool{pl("p", "10.0.0.0/30")}, steps: []step{
			allocate(Service{Key: "ns/a", SharingKey: "k", BackendKey: "app=a", Ports: tcp(80)}, "10.0.0.0"),
			allocate(Service{Key: "ns/b", SharingKey: "k", Ports: tcp(81)}, "10.0.0.1"),
			allocate(Service{Key: "ns/c", SharingKey: "k", BackendKey: "app=a", Ports: tcp(81)}, "10.0.0.0"),
		}},
		"exhaustion and recovery with sharing": {pools: []Pool{pl("p", "10.0.0.0/31")}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			allocate(sv("ns/b"), "10.0.0.1"),
			allocate(Service{Key: "ns/c", SharingKey: "k", Ports: tcp(80)}).err("no available IPs", ErrNoAvailableIPs),
			allocate(Service{Key: "ns/b", SharingKey: "k", Ports: tcp(81)}, "10.0.0.1"),
			allocate(Service{Key: "ns/c", SharingKey: "k", Ports: tcp(80)}, "10.0.0.1"),
		}},
		"exhaustion per family": {pools: []Pool{pl("p", "10.0.0.0/32", "1000::/128")}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			allocate(sv("ns/b")).err("no available IPs", ErrNoAvailableIPs),
			allocate(sv("ns/b", v6svc), "1000::"),
			allocate(sv("ns/c", v6svc)).err("no available IPs", ErrNoAvailableIPs),
			release("ns/a", "10.0.0.0"),
			allocate(sv("ns/c"), "10.0.0.0"),
		}},
		"pools by name when no serviceAllocation": {pools: []Pool{pl("b", "10.0.1.0/32"), pl("a", "10.0.0.0/32"), pl("c", "10.0.2.0/32")}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0").in("a"),
			allocate(sv("ns/b"), "10.0.1.0").in("b"),
			allocate(sv("ns/c"), "10.0.2.0").in("c"),
		}},
		"allocate from named pool": {pools: []Pool{pl("a", "10.0.0.0/31"), pl("b", "10.0.1.0/31")}, steps: []step{
			fromPool(sv("ns/a"), "b", "10.0.1.0"),
			fromPool(sv("ns/b"), "b", "10.0.1.1"),
			fromPool(sv("ns/c"), "b").err(`no available IPs in pool "b"`, ErrNoAvailableIPs),
			fromPool(sv("ns/c"), "x").err(`unknown pool "x"`, ErrUnknownPool),
			fromPool(sv("ns/c", v6svc), "a").err(`no available IPs in pool "a"`, ErrNoAvailableIPs),
		}},
		"allocate from another pool moves the service only on success": {pools: []Pool{pl("a", "10.0.0.0/31"), pl("b", "10.0.1.0/32")}, steps: []step{
			fromPool(sv("ns/a"), "a", "10.0.0.0"),
			fromPool(sv("ns/a"), "b", "10.0.1.0").in("b"),
			fromPool(sv("ns/b"), "a", "10.0.0.0"),
			fromPool(sv("ns/b"), "b").err(`no available IPs in pool "b"`, ErrNoAvailableIPs),
			step{op: opAssign, svc: sv("ns/b"), ips: []string{"10.0.0.0"}, want: []string{"10.0.0.0"}},
		}},
	})
}

func TestDualStack(t *testing.T) {
	both := pl("both", "10.0.0.0/31", "1000::/127")
	runCases(t, map[string]tcase{
		"require dual stack from one pool": {pools: []Pool{both}, steps: []step{
			allocate(sv("ns/a", reqDS), "10.0.0.0", "1000::"),
			allocate(sv("ns/b", Service{Families: dual6, DualStack: RequireDualStack}), "1000::1", "10.0.0.1"),
			allocate(sv("ns/c", reqDS)).err("no available IPs", ErrNoAvailableIPs),
			release("ns/a", "10.0.0.0", "1000::"),
			allocate(sv("ns/c", reqDS), "10.0.0.0", "1000::"),
		}},
		"require dual stack never mixes pools": {pools: []Pool{pl("a", "10.0.0.0/31"), pl("b", "1000::/127")}, steps: []step{
			allocate(sv("ns/a", reqDS)).err("no available IPs", ErrNoAvailableIPs),
			fromPool(sv("ns/a", reqDS), "a").err(`no available IPs in pool "a"`, ErrNoAvailableIPs),
		}},
		"require dual stack skips a single-family pool": {pools: []Pool{pl("a", "10.0.0.0/31"), pl("b", "10.1.0.0/31", "1000::/127")}, steps: []step{
			allocate(sv("ns/a", reqDS), "10.1.0.0", "1000::").in("b"),
		}},
		"require dual stack exhausts one family": {pools: []Pool{pl("p", "10.0.0.0/32", "1000::/127")}, steps: []step{
			allocate(sv("ns/a", reqDS), "10.0.0.0", "1000::"),
			allocate(sv("ns/b", reqDS)).err("no available IPs", ErrNoAvailableIPs),
			allocate(sv("ns/b", v6svc), "1000::1"),
		}},
		"prefer dual stack gets both": {pools: []Pool{both}, steps: []step{
			allocate(sv("ns/a", prefDS), "10.0.0.0", "1000::"),
		}},
		"prefer dual stack falls back to primary": {pools: []Pool{pl("a", "1000::/127"), pl("b", "10.0.0.0/31")}, steps: []step{
			allocate(sv("ns/a", prefDS), "10.0.0.0").in("b"),
		}},
		"prefer dual stack falls back to secondary": {pools: []Pool{pl("a", "1000::/127")}, steps: []step{
			allocate(sv("ns/a", prefDS), "1000::"),
		}},
		"prefer dual stack ipv6 primary": {pools: []Pool{pl("a", "10.0.0.0/31"), pl("b", "1000::/127")}, steps: []step{
			allocate(sv("ns/a", Service{Families: dual6, DualStack: PreferDualStack}), "1000::").in("b"),
		}},
		"prefer dual stack: a later dual pool beats an earlier single one": {pools: []Pool{pl("a", "10.5.0.0/31"), both}, steps: []step{
			allocate(sv("ns/a", prefDS), "10.0.0.0", "1000::").in("both"),
		}},
		"prefer dual stack: pinned single pool beats fallback dual pool": {pools: []Pool{with(pl("a", "10.9.0.0/31"), PoolAllocation{Namespaces: []string{"ns"}}), both}, steps: []step{
			allocate(sv("ns/a", prefDS), "10.9.0.0").in("a"),
		}},
		"prefer dual stack with single-stack families": {pools: []Pool{both}, steps: []step{
			allocate(sv("ns/a", Service{Families: only6, DualStack: PreferDualStack}), "1000::"),
		}},
		"prefer dual stack from named pool": {pools: []Pool{pl("v4", "10.5.0.0/31"), both}, steps: []step{
			fromPool(sv("ns/a", prefDS), "v4", "10.5.0.0"),
			fromPool(sv("ns/b", prefDS), "both", "10.0.0.0", "1000::").in("both"),
		}},
		"prefer dual stack exhausting one family": {pools: []Pool{pl("p", "10.0.0.0/32", "1000::/127")}, steps: []step{
			allocate(sv("ns/a", prefDS), "10.0.0.0", "1000::"),
			allocate(sv("ns/b", prefDS), "1000::1"),
			allocate(sv("ns/c", prefDS)).err("no available IPs", ErrNoAvailableIPs),
		}},
		"additional family": {pools: []Pool{pl("p", "10.0.0.0/32", "1000::/127"), pl("q", "10.1.0.0/32")}, steps: []step{
			assign(sv("ns/a", prefDS), "", "1000::1"),
			step{op: opExtra, svc: sv("ns/a", prefDS), want: []string{"10.0.0.0"}},
			step{op: opExtra, svc: sv("ns/a", prefDS)}.err(`service "ns/a" already has 2 addresses`, ErrFamily),
			assign(sv("ns/b", prefDS), "", "10.1.0.0"),
			step{op: opExtra, svc: sv("ns/b", prefDS)}.err(`no available IPs in pool "q"`, ErrNoAvailableIPs),
			step{op: opExtra, svc: sv("ns/c", prefDS)}.err(`service "ns/c" has no allocation`, ErrNotAllocated),
			step{op: opExtra, svc: sv("ns/b")}.err(`service "ns/b" does not want an IPv6 address`, ErrFamily),
		}},
	})
}

func TestPoolAllocation(t *testing.T) {
	nsPool := with(pl("ns", "10.0.1.0/31"), PoolAllocation{Namespaces: []string{"team"}})
	lblPool := with(pl("lbl", "10.0.2.0/31"), PoolAllocation{ServiceSelectors: []Selector{match("tier", "gold")}})
	both := with(pl("both", "10.0.3.0/31"), PoolAllocation{Namespaces: []string{"team"}, ServiceSelectors: []Selector{match("tier", "gold")}})
	nsSel := with(pl("nssel", "10.0.4.0/31"), PoolAllocation{NamespaceSelectors: []Selector{match("env", "prod")}})
	def := pl("default", "10.0.0.0/31")
	gold := map[string]string{"tier": "gold"}
	runCases(t, map[string]tcase{
		"namespace pool for its namespace": {pools: []Pool{def, nsPool}, steps: []step{
			allocate(sv("team/a"), "10.0.1.0").in("ns"),
			allocate(sv("other/a"), "10.0.0.0").in("default"),
		}},
		"namespace pool is not a fallback": {pools: []Pool{nsPool}, steps: []step{
			allocate(sv("other/a")).err("no available IPs", ErrNoAvailableIPs),
			fromPool(sv("other/a"), "ns").err(`pool "ns" not compatible for ip assignment`, ErrNotCompatible),
			assign(sv("other/a"), "", "10.0.1.0").err(`pool "ns" not compatible for ip assignment`, ErrNotCompatible),
			assign(sv("team/a"), "", "10.0.1.0"),
		}},
		"explicit namespace field wins over key": {pools: []Pool{nsPool}, steps: []step{
			allocate(Service{Key: "x/a", Namespace: "team"}, "10.0.1.0"),
		}},
		"pinned pool full falls back to default": {pools: []Pool{def, nsPool}, steps: []step{
			allocate(sv("team/a"), "10.0.1.0"),
			allocate(sv("team/b"), "10.0.1.1"),
			allocate(sv("team/c"), "10.0.0.0").in("default"),
		}},
		"service selector": {pools: []Pool{def, lblPool}, steps: []step{
			allocate(Service{Key: "x/a", Labels: gold}, "10.0.2.0").in("lbl"),
			allocate(Service{Key: "x/b", Labels: map[string]string{"tier": "silver"}}, "10.0.0.0"),
			allocate(Service{Key: "x/c"}, "10.0.0.1"),
		}},
		"namespace and selector combined": {pools: []Pool{def, both}, steps: []step{
			allocate(Service{Key: "team/a", Labels: gold}, "10.0.3.0").in("both"),
			allocate(Service{Key: "team/b"}, "10.0.0.0"),
			allocate(Service{Key: "other/c", Labels: gold}, "10.0.0.1"),
		}},
		"namespace selector": {pools: []Pool{def, nsSel}, steps: []step{
			allocate(Service{Key: "x/a", NamespaceLabels: map[string]string{"env": "prod"}}, "10.0.4.0").in("nssel"),
			allocate(Service{Key: "x/b", NamespaceLabels: map[string]string{"env": "dev"}}, "10.0.0.0"),
			fromPool(Service{Key: "x/c"}, "nssel").err(`pool "nssel" not compatible for ip assignment`, ErrNotCompatible),
		}},
		"priority order, unset last, ties by name": {pools: []Pool{
			with(pl("p0", "10.0.10.0/32"), PoolAllocation{Namespaces: []string{"team"}}),
			with(pl("p2", "10.0.12.0/32"), PoolAllocation{Priority: 2, Namespaces: []string{"team"}}),
			with(pl("p1b", "10.0.11.1/32"), PoolAllocation{Priority: 1, ServiceSelectors: []Selector{match("tier", "gold")}}),
			with(pl("p1a", "10.0.11.0/32"), PoolAllocation{Priority: 1, Namespaces: []string{"team"}}),
			def,
		}, steps: []step{
			allocate(Service{Key: "team/a", Labels: gold}, "10.0.11.0").in("p1a"),
			allocate(Service{Key: "team/b", Labels: gold}, "10.0.11.1").in("p1b"),
			allocate(Service{Key: "team/c", Labels: gold}, "10.0.12.0").in("p2"),
			allocate(Service{Key: "team/d", Labels: gold}, "10.0.10.0").in("p0"),
			allocate(Service{Key: "team/e", Labels: gold}, "10.0.0.0").in("default"),
		}},
		"priority-only pool is pinned for everyone and not a fallback": {pools: []Pool{
			def, with(pl("prio", "10.0.5.0/32"), PoolAllocation{Priority: 5}),
		}, steps: []step{
			allocate(sv("any/a"), "10.0.5.0").in("prio"),
			allocate(sv("any/b"), "10.0.0.0").in("default"),
		}},
		"pinned pool with autoAssign false is skipped": {pools: []Pool{def, noAuto(nsPool)}, steps: []step{
			allocate(sv("team/a"), "10.0.0.0").in("default"),
			fromPool(sv("team/b"), "ns", "10.0.1.0"),
		}},
		"nil selector matches all": {pools: []Pool{with(pl("p", "10.0.0.0/32"), PoolAllocation{ServiceSelectors: []Selector{nil}})}, steps: []step{
			allocate(sv("x/a"), "10.0.0.0"),
		}},
	})
}

func TestAutoAssign(t *testing.T) {
	runCases(t, map[string]tcase{
		"autoAssign false never auto-picked": {pools: []Pool{noAuto(pl("manual", "10.0.0.0/31")), pl("auto", "10.0.1.0/32")}, steps: []step{
			allocate(sv("ns/a"), "10.0.1.0").in("auto"),
			allocate(sv("ns/b")).err("no available IPs", ErrNoAvailableIPs),
			fromPool(sv("ns/b"), "manual", "10.0.0.0").in("manual"),
			assign(sv("ns/c"), "", "10.0.0.1").in("manual"),
		}},
	})
}

func TestConfigReload(t *testing.T) {
	base := pl("p", "10.0.0.0/30")
	runCases(t, map[string]tcase{
		"same config": {pools: []Pool{base}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			allocate(Service{Key: "ns/b", SharingKey: "k", Ports: tcp(1)}, "10.0.0.1"),
			allocate(Service{Key: "ns/c", SharingKey: "k", Ports: tcp(2)}, "10.0.0.1"),
			setPools(nil, base),
			allocate(sv("ns/d"), "10.0.0.2"),
			allocate(Service{Key: "ns/e", SharingKey: "k", Ports: tcp(3)}, "10.0.0.1"),
		}},
		"expand": {pools: []Pool{pl("p", "10.0.0.0/31")}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			allocate(sv("ns/b"), "10.0.0.1"),
			allocate(sv("ns/c")).err("no available IPs", ErrNoAvailableIPs),
			setPools(nil, base),
			allocate(sv("ns/c"), "10.0.0.2"),
		}},
		"shrink keeps what fits": {pools: []Pool{base}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			setPools(nil, pl("p", "10.0.0.0/31")),
			allocate(sv("ns/b"), "10.0.0.1"),
		}},
		"shrink evicts": {pools: []Pool{base}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			allocate(sv("ns/b"), "10.0.0.1"),
			allocate(Service{Key: "ns/c", SharingKey: "k"}, "10.0.0.2"),
			allocate(Service{Key: "ns/d", SharingKey: "k"}, "10.0.0.2"),
			setPools([]string{"ns/b", "ns/c", "ns/d"}, pl("p", "10.0.0.0/32")),
			allocate(sv("ns/b")).err("no available IPs", ErrNoAvailableIPs),
		}},
		"rename pool re-homes": {pools: []Pool{base}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0").in("p"),
			setPools(nil, pl("q", "10.0.0.0/30")),
			assign(sv("ns/a"), "", "10.0.0.0").in("q"),
			allocate(sv("ns/b"), "10.0.0.1").in("q"),
		}},
		"split pool": {pools: []Pool{base}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			assign(sv("ns/b"), "", "10.0.0.2"),
			setPools(nil, pl("p", "10.0.0.0/31"), pl("q", "10.0.0.2/31")),
			assign(sv("ns/b"), "", "10.0.0.2").in("q"),
			allocate(sv("ns/c"), "10.0.0.1").in("p"),
		}},
		"dual-stack split across pools evicts": {pools: []Pool{pl("p", "10.0.0.0/31", "1000::/127")}, steps: []step{
			allocate(sv("ns/a", reqDS), "10.0.0.0", "1000::"),
			setPools([]string{"ns/a"}, pl("p", "10.0.0.0/31"), pl("q", "1000::/127")),
		}},
		"enabling buggy-ip exclusion evicts": {pools: []Pool{pl("p", "10.0.0.0/24")}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			allocate(sv("ns/b"), "10.0.0.1"),
			setPools([]string{"ns/a"}, buggy(pl("p", "10.0.0.0/24"))),
			allocate(sv("ns/c"), "10.0.0.2"),
		}},
		"pool becoming incompatible evicts": {pools: []Pool{base}, steps: []step{
			allocate(sv("team/a"), "10.0.0.0"),
			allocate(sv("other/b"), "10.0.0.1"),
			setPools([]string{"other/b"}, with(base, PoolAllocation{Namespaces: []string{"team"}})),
		}},
		"removing all pools evicts all": {pools: []Pool{base}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			allocate(sv("ns/b"), "10.0.0.1"),
			setPools([]string{"ns/a", "ns/b"}),
			allocate(sv("ns/c")).err("no available IPs", ErrNoAvailableIPs),
		}},
		"autoAssign turned off keeps allocations": {pools: []Pool{base}, steps: []step{
			allocate(sv("ns/a"), "10.0.0.0"),
			setPools(nil, noAuto(base)),
			allocate(sv("ns/a"), "10.0.0.0"),
		}},
		"overlapping pools: first name owns the overlap": {pools: []Pool{pl("b", "10.0.0.0/30"), pl("a", "10.0.0.2/31")}, steps: []step{
			assign(sv("ns/x"), "", "10.0.0.2").in("a"),
			fromPool(sv("ns/a"), "b", "10.0.0.0"),
			fromPool(sv("ns/b"), "b", "10.0.0.1"),
			fromPool(sv("ns/c"), "b").err(`no available IPs in pool "b"`, ErrNoAvailableIPs),
		}},
	})
}

// TestReleasing: an address leaves its holder's status before anyone else may
// be given it. Evicted and retired addresses stay reserved until EndRelease.
func TestReleasing(t *testing.T) {
	one := pl("p", "192.0.2.0/32")
	restricted := with(one, PoolAllocation{Namespaces: []string{"team-a"}})
	runCases(t, map[string]tcase{
		"restricting a full pool keeps the evicted address until its status drops it": {pools: []Pool{one}, steps: []step{
			allocate(sv("default/holder"), "192.0.2.0"),
			setPools([]string{"default/holder"}, restricted),
			allocate(sv("team-a/waiting")).err("no available IPs", ErrNoAvailableIPs),
			endRelease("default/holder", "192.0.2.0"),
			allocate(sv("team-a/waiting"), "192.0.2.0"),
		}},
		"a retired address is not handed out before the release ends": {pools: []Pool{pl("p", "192.0.2.0/30")}, steps: []step{
			allocate(sv("ns/a"), "192.0.2.0"),
			retire("ns/a", "192.0.2.0"),
			allocate(sv("ns/b"), "192.0.2.1"),
			allocate(sv("ns/a"), "192.0.2.2"),
			endRelease("ns/a", "192.0.2.0"),
			allocate(sv("ns/c"), "192.0.2.0"),
		}},
		"a Service takes its own releasing address back": {pools: []Pool{one}, steps: []step{
			allocate(sv("default/holder"), "192.0.2.0"),
			setPools([]string{"default/holder"}, restricted),
			setPools(nil, one),
			assign(sv("default/holder"), "", "192.0.2.0"),
			endRelease("default/holder"),
			allocate(sv("ns/other")).err("no available IPs", ErrNoAvailableIPs),
		}},
		"a releasing address outside every pool stays reserved when the pool comes back": {pools: []Pool{pl("p", "192.0.2.0/31")}, steps: []step{
			allocate(sv("ns/a"), "192.0.2.0"),
			allocate(sv("ns/b"), "192.0.2.1"),
			setPools([]string{"ns/b"}, pl("p", "192.0.2.0/32")),
			setPools(nil, pl("p", "192.0.2.0/31")),
			allocate(sv("ns/c")).err("no available IPs", ErrNoAvailableIPs),
			endRelease("ns/b", "192.0.2.1"),
			allocate(sv("ns/c"), "192.0.2.1"),
		}},
		"a releasing address refuses a Service of another sharing key": {pools: []Pool{one}, steps: []step{
			allocate(Service{Key: "ns/a", SharingKey: "k", Ports: tcp(80)}, "192.0.2.0"),
			retire("ns/a", "192.0.2.0"),
			assign(sv("ns/b"), "", "192.0.2.0").err(`can't change sharing key for "ns/b", address also in use by ns/a (releasing)`, ErrSharing),
			assign(Service{Key: "ns/c", SharingKey: "k", Ports: tcp(80)}, "", "192.0.2.0").err(`port TCP/80 is already in use on "192.0.2.0"`, ErrPortInUse),
		}},
		"deleting a Service frees its releasing addresses too": {pools: []Pool{one}, steps: []step{
			allocate(sv("ns/a"), "192.0.2.0"),
			retire("ns/a", "192.0.2.0"),
			release("ns/a", "192.0.2.0"),
			allocate(sv("ns/b"), "192.0.2.0"),
		}},
	})
}

// TestClaimOverlaps checks the ordered-set overlap resolution of SetPools
// against a straightforward IPSet computation.
func TestClaimOverlaps(t *testing.T) {
	rnd := uint64(7)
	next := func(n uint64) uint64 { rnd = rnd*6364136223846793005 + 1442695040888963407; return (rnd >> 33) % n }
	for trial := 0; trial < 300; trial++ {
		claimed := newTreap(cmpRange)
		var seen netipx.IPSetBuilder
		for i := 0; i < 20; i++ {
			lo := next(64)
			hi := lo + next(12)
			r := netipx.IPRangeFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(lo)}), netip.AddrFrom4([4]byte{192, 0, 2, byte(hi)}))
			got := claim(claimed, r)
			seenSet, _ := seen.IPSet()
			var b netipx.IPSetBuilder
			b.AddRange(r)
			b.RemoveSet(seenSet)
			want, _ := b.IPSet()
			seen.AddRange(r)
			if fmt.Sprint(got) != fmt.Sprint(want.Ranges()) {
				t.Fatalf("trial %d range %v: pieces %v, want %v", trial, r, got, want.Ranges())
			}
		}
	}
}

func TestPoolCount(t *testing.T) {
	cases := map[string]struct {
		pool Pool
		want Stats
	}{
		"/24":                {pl("p", "192.168.0.0/24"), Stats{AvailableIPv4: 256}},
		"/24 and /25":        {pl("p", "192.168.0.0/24", "192.168.1.0/25"), Stats{AvailableIPv4: 384}},
		"buggy /24":          {buggy(pl("p", "192.168.0.0/24")), Stats{AvailableIPv4: 254}},
		"buggy /23 and /25":  {buggy(pl("p", "192.168.0.0/23", "192.168.2.0/25", "192.168.3.128/25")), Stats{AvailableIPv4: 508 + 127 + 127}},
		"buggy range":        {buggy(pl("p", "192.168.0.250-192.168.1.5")), Stats{AvailableIPv4: 10}},
		"huge ipv6":          {pl("p", "1000::/64"), Stats{AvailableIPv6: math.MaxInt64}},
		"two huge ipv6":      {pl("p", "1000::/64", "2000::/64"), Stats{AvailableIPv6: math.MaxInt64}},
		"ipv6 ::/0":          {pl("p", "::/0"), Stats{AvailableIPv6: math.MaxInt64}},
		"just below 2^63":    {pl("p", "1000::/66"), Stats{AvailableIPv6: 1 << 62}},
		"mixed":              {pl("p", "192.168.0.0/24", "1000::/120"), Stats{AvailableIPv4: 256, AvailableIPv6: 256}},
		"mixed buggy":        {buggy(pl("p", "192.168.0.0/24", "1000::/120")), Stats{AvailableIPv4: 254, AvailableIPv6: 256}},
		"ipv4 0.0.0.0/0":     {pl("p", "0.0.0.0/0"), Stats{AvailableIPv4: 1 << 32}},
		"ipv4 0.0.0.0/0 bug": {buggy(pl("p", "0.0.0.0/0")), Stats{AvailableIPv4: 254 << 24}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a := New()
			a.SetPools([]Pool{tc.pool})
			if got := a.PoolStats("p"); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	if (New().PoolStats("nope") != Stats{}) {
		t.Fatal("unknown pool has stats")
	}
}

func TestPoolStats(t *testing.T) {
	a := New()
	a.SetPools([]Pool{pl("p", "10.0.0.0/30", "1000::/126")})
	st := func() Stats { return a.PoolStats("p") }
	if want := (Stats{0, 0, 4, 4}); st() != want {
		t.Fatalf("%+v", st())
	}
	if _, _, err := a.Allocate(Service{Key: "ns/a", SharingKey: "k", Ports: tcp(80)}); err != nil {
		t.Fatal(err)
	}
	if want := (Stats{1, 0, 3, 4}); st() != want {
		t.Fatalf("assign: %+v", st())
	}
	// Shared: counted once.
	if _, _, err := a.Allocate(Service{Key: "ns/b", SharingKey: "k", Ports: tcp(81)}); err != nil {
		t.Fatal(err)
	}
	if want := (Stats{1, 0, 3, 4}); st() != want {
		t.Fatalf("shared assign: %+v", st())
	}
	if _, _, err := a.Allocate(Service{Key: "ns/c", Families: dual4, DualStack: RequireDualStack}); err != nil {
		t.Fatal(err)
	}
	if want := (Stats{2, 1, 2, 3}); st() != want {
		t.Fatalf("dual assign: %+v", st())
	}
	a.Release("ns/a")
	if want := (Stats{2, 1, 2, 3}); st() != want {
		t.Fatalf("unassign one sharer: %+v", st())
	}
	a.Release("ns/b")
	a.Release("ns/c")
	if want := (Stats{0, 0, 4, 4}); st() != want {
		t.Fatalf("unassign all: %+v", st())
	}
	a.SetPools([]Pool{pl("p", "1000::/64")})
	if _, _, err := a.Allocate(Service{Key: "ns/a", Families: only6}); err != nil {
		t.Fatal(err)
	}
	if want := (Stats{0, 1, 0, math.MaxInt64}); st() != want {
		t.Fatalf("huge: %+v", st())
	}
}

func TestAccessors(t *testing.T) {
	a := New()
	a.SetPools([]Pool{pl("b", "10.0.1.0/24"), pl("a", "10.0.0.0/24"), buggy(pl("c", "10.0.2.0/24"))})
	if got := a.PoolNames(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("PoolNames %v", got)
	}
	if !a.HasPool("a") || a.HasPool("z") {
		t.Fatal("HasPool")
	}
	for ip, want := range map[string]string{"10.0.0.5": "a", "10.0.1.0": "b", "10.0.2.0": "", "10.0.2.1": "c", "10.0.3.0": "", "::1": ""} {
		got, ok := a.PoolForIP(netip.MustParseAddr(ip))
		if got != want || ok != (want != "") {
			t.Errorf("PoolForIP(%s) = %q, %v", ip, got, ok)
		}
	}
	if _, _, ok := a.Get("ns/a"); ok {
		t.Fatal("Get on nothing")
	}
	if a.Release("ns/a") != nil {
		t.Fatal("Release on nothing")
	}
}

func TestErrorsAreTyped(t *testing.T) {
	a := New()
	a.SetPools([]Pool{pl("p", "10.0.0.0/32")})
	_, err := a.AllocateFromPool(Service{Key: "ns/a"}, "x")
	var e *Error
	if !errors.As(err, &e) || e.Err != ErrUnknownPool {
		t.Fatalf("%v", err)
	}
}

// ---- fuzzing ---------------------------------------------------------------

// FuzzAllocator runs random operation sequences over a few small pools and
// checks the invariants after each step.
func FuzzAllocator(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
	f.Add([]byte("\x01\x02\x03\x04\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\xff"))
	f.Add([]byte("sharing keys and ports and pools and everything else"))
	f.Fuzz(fuzzBody)
}

var fuzzPoolSets = [][]Pool{
	{pl("a", "10.0.0.0/30", "1000::/127"), buggy(pl("b", "10.0.0.254-10.0.1.1")), noAuto(pl("c", "10.0.2.0/31"))},
	{pl("a", "10.0.0.0/31"), pl("b", "10.0.0.2/31", "1000::/126"), with(pl("d", "10.0.3.0/31"), PoolAllocation{Namespaces: []string{"n1"}})},
	{pl("z", "10.0.0.0/29", "1000::/125")},
	{with(pl("a", "10.0.0.0/30"), PoolAllocation{Priority: 1, ServiceSelectors: []Selector{match("x", "1")}}), pl("q", "1000::/127", "10.0.1.0/32")},
}

// fuzzBody interprets data as a sequence of operations.
func fuzzBody(t *testing.T, data []byte) {
	{
		a := New()
		a.SetPools(fuzzPoolSets[0])
		next := func() byte {
			if len(data) == 0 {
				return 0
			}
			b := data[0]
			data = data[1:]
			return b
		}
		keys := []string{"n1/a", "n1/b", "n2/c", "n2/d", "n1/e", "n2/f"}
		ipPool := []string{"10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.255", "10.0.1.0", "10.0.1.1", "10.0.2.0", "1000::", "1000::1", "1000::3", "9.9.9.9"}
		families := [][]Family{nil, only4, only6, dual4, dual6}
		for len(data) > 0 {
			o, b1, b2, b3 := next(), next(), next(), next()
			svc := Service{
				Key:        keys[int(b1)%len(keys)],
				SharingKey: []string{"", "k1", "k2"}[int(b2)%3],
				BackendKey: []string{"", "sel"}[int(b2>>2)%2],
				Ports:      [][]Port{nil, tcp(80), tcp(81), append(tcp(80), udp(80)...)}[int(b2>>3)%4],
				Families:   families[int(b3)%len(families)],
				DualStack:  DualStackPolicy(int(b3>>3) % 3),
				Labels:     map[string]string{"x": fmt.Sprint(b3 >> 5 & 1)},
			}
			switch o % 8 {
			case 0, 1:
				a.Allocate(svc)
			case 2:
				n := 1 + int(b3>>6)%2
				var ips []netip.Addr
				for i := 0; i < n; i++ {
					ips = append(ips, netip.MustParseAddr(ipPool[int(next())%len(ipPool)]))
				}
				a.Assign(svc, ips, []string{"", "a", "b", "c", "x"}[int(next())%5])
			case 3:
				a.AllocateFromPool(svc, []string{"a", "b", "c", "d", "z", "q"}[int(b2)%6])
			case 4:
				if b2%4 == 0 {
					a.AllocateAdditionalFamily(svc)
				} else {
					_, _, had := a.Get(svc.Key)
					had = had || len(a.Releasing(svc.Key)) > 0 // evicted: still reserved
					freed := a.Release(svc.Key)
					if !had && freed != nil {
						t.Fatalf("freed %v for unallocated %s", freed, svc.Key)
					}
					for _, ip := range freed {
						if _, ok := a.ips[ip]; ok {
							t.Fatalf("freed %v still tracked", ip)
						}
					}
				}
			case 5:
				a.SetPools(fuzzPoolSets[int(b1)%len(fuzzPoolSets)])
			case 6:
				a.Retire(svc.Key)
			case 7:
				a.EndRelease(svc.Key)
			}
			checkInvariants(t, a)
		}
	}
}

// ---- benchmarks ------------------------------------------------------------

func fillServices(n int) []Service {
	svcs := make([]Service, n)
	for i := range svcs {
		svcs[i] = Service{Key: fmt.Sprintf("ns/svc-%d", i), Ports: tcp(80)}
	}
	return svcs
}

// BenchmarkAllocateFill16 fills a /16 (65,536 services); one op is the whole fill.
func BenchmarkAllocateFill16(b *testing.B) {
	svcs := fillServices(1 << 16)
	pools := []Pool{pl("p", "10.0.0.0/16")}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a := New()
		a.SetPools(pools)
		b.StartTimer()
		for _, s := range svcs {
			if _, _, err := a.Allocate(s); err != nil {
				b.Fatal(err)
			}
		}
		if _, _, err := a.Allocate(Service{Key: "ns/one-more"}); !errors.Is(err, ErrNoAvailableIPs) {
			b.Fatal("pool not full")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(svcs)), "ns/alloc")
}

// BenchmarkAllocateEmptyVsNearlyFull allocates and releases one address in
// an empty /16 and in one with 65,535 addresses used (the free one is the
// last, the worst place for a linear scan).
func BenchmarkAllocateEmptyVsNearlyFull(b *testing.B) {
	for _, used := range []int{0, 1<<16 - 1} {
		b.Run(fmt.Sprintf("used=%d", used), func(b *testing.B) {
			a := New()
			a.SetPools([]Pool{pl("p", "10.0.0.0/16")})
			for _, s := range fillServices(used) {
				if _, _, err := a.Allocate(s); err != nil {
					b.Fatal(err)
				}
			}
			s := Service{Key: "ns/probe", Ports: tcp(80)}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, _, err := a.Allocate(s); err != nil {
					b.Fatal(err)
				}
				a.Release(s.Key)
			}
		})
	}
}

// BenchmarkAssignAdopt re-adopts 16,384 existing addresses (controller
// restart), in a random order; one op is the whole adoption.
func BenchmarkAssignAdopt(b *testing.B) {
	const n = 1 << 14
	svcs := fillServices(n)
	ips := make([]netip.Addr, n)
	base := netip.MustParseAddr("10.0.0.0")
	for i := range ips {
		ips[i] = base
		base = base.Next()
	}
	// Deterministic shuffle.
	perm := make([]int, n)
	x := uint32(1)
	for i := range perm {
		perm[i] = i
	}
	for i := n - 1; i > 0; i-- {
		x = x*1664525 + 1013904223
		j := int(x % uint32(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
	pools := []Pool{pl("p", "10.0.0.0/18")}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		a := New()
		a.SetPools(pools)
		b.StartTimer()
		for _, k := range perm {
			if _, err := a.Assign(svcs[k], ips[k:k+1], ""); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// linearAlloc reproduces MetalLB's approach for comparison only: walk the
// CIDR from its first address and take the first address whose (string
// keyed) sharing check passes.
type linearAlloc struct {
	prefix netip.Prefix
	keyFor map[string]string          // ip.String() -> sharing key
	ports  map[string]map[Port]string // ip.String() -> port -> svc
	svcs   map[string]map[string]bool // ip.String() -> services
}

func (l *linearAlloc) allocate(svc string, ports []Port) (netip.Addr, bool) {
	for ip := l.prefix.Addr(); l.prefix.Contains(ip); ip = ip.Next() {
		s := ip.String()
		if k, used := l.keyFor[s]; used {
			if k == "" { // sharingOK fails: allowed only if svc is the sole user
				others := 0
				for o := range l.svcs[s] {
					if o != svc {
						others++
					}
				}
				if others > 0 {
					continue
				}
			}
			clash := false
			for _, p := range ports {
				if cur, ok := l.ports[s][p]; ok && cur != svc {
					clash = true
				}
			}
			if clash {
				continue
			}
		}
		l.keyFor[s] = ""
		l.svcs[s] = map[string]bool{svc: true}
		l.ports[s] = map[Port]string{}
		for _, p := range ports {
			l.ports[s][p] = svc
		}
		return ip, true
	}
	return netip.Addr{}, false
}

func benchFill(b *testing.B, bits int, linear bool) {
	prefix := netip.MustParsePrefix(fmt.Sprintf("10.0.0.0/%d", bits))
	n := 1 << (32 - bits)
	svcs := fillServices(n)
	for i := 0; i < b.N; i++ {
		if linear {
			l := &linearAlloc{prefix, map[string]string{}, map[string]map[Port]string{}, map[string]map[string]bool{}}
			for _, s := range svcs {
				if _, ok := l.allocate(s.Key, s.Ports); !ok {
					b.Fatal("full")
				}
			}
			continue
		}
		a := New()
		a.SetPools([]Pool{{Name: "p", Ranges: []netipx.IPRange{netipx.RangeOfPrefix(prefix)}, AutoAssign: true}})
		for _, s := range svcs {
			if _, _, err := a.Allocate(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// linear18 enables the /18 linear-scan baseline, which takes over a minute.
var linear18 = os.Getenv("IRONLB_BENCH_LINEAR18") != ""

// BenchmarkFill20Linear fills a /20 (4,096 services) with a MetalLB-style
// linear scan; compare with BenchmarkFill20.
func BenchmarkFill20Linear(b *testing.B) { benchFill(b, 20, true) }

// BenchmarkFill20 fills a /20 with this allocator.
func BenchmarkFill20(b *testing.B) { benchFill(b, 20, false) }

// BenchmarkFill18Linear fills a /18 (16,384 services) with the linear scan.
// Set IRONLB_BENCH_LINEAR18=1 to run it (over a minute).
func BenchmarkFill18Linear(b *testing.B) {
	if !linear18 {
		b.Skip("set IRONLB_BENCH_LINEAR18=1 to run the /18 linear baseline")
	}
	benchFill(b, 18, true)
}

// BenchmarkFill18 fills a /18 with this allocator.
func BenchmarkFill18(b *testing.B) { benchFill(b, 18, false) }

// BenchmarkFillRatio fills a /20 (and a /18 with IRONLB_BENCH_LINEAR18=1)
// with both allocators in the same run and reports the times and the ratio
// linear/ours.
func BenchmarkFillRatio(b *testing.B) {
	sizes := []int{20}
	if linear18 {
		sizes = append(sizes, 18)
	}
	for _, bits := range sizes {
		b.Run(fmt.Sprintf("/%d", bits), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				benchFill(&testing.B{N: 1}, bits, true)
				lin := time.Since(t0)
				t0 = time.Now()
				benchFill(&testing.B{N: 1}, bits, false)
				ours := time.Since(t0)
				b.ReportMetric(float64(lin.Microseconds())/1e3, "linear-ms")
				b.ReportMetric(float64(ours.Microseconds())/1e3, "ironlb-ms")
				b.ReportMetric(float64(lin)/float64(ours), "ratio")
			}
		})
	}
}

// BenchmarkAllocateManyPools fills 1,000 /28 pools (16,000 services).
func BenchmarkAllocateManyPools(b *testing.B) {
	var pools []Pool
	for i := 0; i < 1000; i++ {
		pools = append(pools, pl(fmt.Sprintf("pool-%04d", i), fmt.Sprintf("10.%d.%d.0/28", i/256, i%256)))
	}
	svcs := fillServices(16000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a := New()
		a.SetPools(pools)
		for _, s := range svcs {
			if _, _, err := a.Allocate(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkSetPoolsManyRanges rebuilds 8,192 disjoint ranges (one pool edit
// in a large configuration), beside one range as the baseline.
func BenchmarkSetPoolsManyRanges(b *testing.B) {
	many := Pool{Name: "p", AutoAssign: true}
	for i := 0; i < 8192; i++ {
		from := netip.AddrFrom4([4]byte{10, byte(i >> 5), byte(i & 31 << 3), 0})
		many.Ranges = append(many.Ranges, netipx.IPRangeFrom(from, from.Next().Next().Next()))
	}
	for name, pools := range map[string][]Pool{"1range": {pl("p", "10.0.0.0/18")}, "8192ranges": {many}} {
		b.Run(name, func(b *testing.B) {
			a := New()
			for i := 0; i < b.N; i++ {
				a.SetPools(pools)
			}
		})
	}
}

// BenchmarkSetPools re-applies the config (one pool edit) with 16,384 and 50,000
// allocations.
func BenchmarkSetPools(b *testing.B) {
	for _, n := range []int{1 << 14, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			a := New()
			pools := []Pool{pl("p", "10.0.0.0/16")}
			a.SetPools(pools)
			for _, s := range fillServices(n) {
				if _, _, err := a.Allocate(s); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if ev := a.SetPools(pools); len(ev) != 0 {
					b.Fatal(ev)
				}
			}
		})
	}
}

// BenchmarkAllocateIPv6Fill allocates 16,384 services from a /64.
func BenchmarkAllocateIPv6Fill(b *testing.B) {
	svcs := fillServices(1 << 14)
	for i := range svcs {
		svcs[i].Families = only6
	}
	for i := 0; i < b.N; i++ {
		a := New()
		a.SetPools([]Pool{pl("p", "2001:db8::/64")})
		for _, s := range svcs {
			if _, _, err := a.Allocate(s); err != nil {
				b.Fatal(err)
			}
		}
	}
}
