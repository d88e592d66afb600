package rendezvous

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"testing"
)

// rehashOwner is MetalLB's rule as MetalLB writes it: sort the candidates
// with a comparator that hashes sha256(node#ip) on both sides, take the first.
// It is the baseline for the benchmarks.
func rehashOwner(ip netip.Addr, candidates []string) (string, bool) {
	if len(candidates) == 0 {
		return "", false
	}
	ipString := canonical(ip).String()
	nodes := slices.Clone(candidates)
	sort.Slice(nodes, func(i, j int) bool {
		hi := sha256.Sum256([]byte(nodes[i] + "#" + ipString))
		hj := sha256.Sum256([]byte(nodes[j] + "#" + ipString))
		return bytes.Compare(hi[:], hj[:]) < 0
	})
	return nodes[0], true
}

// sortedOwner is the rule written the slow, obvious way: sort by Score, then
// name, take the first. It is the reference Owner, Owners and Cache must match.
func sortedOwner(ip netip.Addr, candidates []string) (string, bool) {
	if len(candidates) == 0 {
		return "", false
	}
	nodes := slices.Clone(candidates)
	sort.Slice(nodes, func(i, j int) bool {
		si, sj := Score(nodes[i], ip), Score(nodes[j], ip)
		if si != sj {
			return si < sj
		}
		return nodes[i] < nodes[j]
	})
	return nodes[0], true
}

func TestOwner(t *testing.T) {
	nodes := []string{"node-a", "node-b", "node-c", "node-d", "worker-1"}
	cases := map[string]struct {
		ip         string
		candidates []string
		want       string // "" means no owner
	}{
		// Golden values pin the score: every speaker of every version must agree,
		// so a change here is a compatibility break, not a refactoring.
		"IPv4 golden value":                   {ip: "192.0.2.1", candidates: nodes, want: "node-b"},
		"IPv6 golden value":                   {ip: "2001:db8::1", candidates: nodes, want: "worker-1"},
		"another IPv4 golden value":           {ip: "198.51.100.7", candidates: nodes, want: "worker-1"},
		"IPv4-mapped IPv6 ranks as IPv4":      {ip: "::ffff:192.0.2.1", candidates: nodes, want: "node-b"},
		"zone is ignored":                     {ip: "2001:db8::1%eth0", candidates: nodes, want: "worker-1"},
		"order of candidates is ignored":      {ip: "192.0.2.1", candidates: []string{"worker-1", "node-b", "node-c", "node-a", "node-d"}, want: "node-b"},
		"removing the owner picks the second": {ip: "192.0.2.1", candidates: without(nodes, "node-b"), want: "node-c"},
		"removing a non-owner moves nothing":  {ip: "192.0.2.1", candidates: []string{"node-b", "node-c"}, want: "node-b"},
		"duplicates are harmless":             {ip: "198.51.100.7", candidates: []string{"worker-1", "worker-1", "node-a", "node-a"}, want: "worker-1"},
		"single candidate":                    {ip: "203.0.113.9", candidates: []string{"only"}, want: "only"},
		"no candidates":                       {ip: "203.0.113.9", candidates: nil, want: ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ip := netip.MustParseAddr(tc.ip)
			check := func(impl string, got string, ok bool) {
				t.Helper()
				if ok != (tc.want != "") || got != tc.want {
					t.Errorf("%s = %q, %v; want %q", impl, got, ok, tc.want)
				}
			}
			got, ok := Owner(ip, tc.candidates)
			check("Owner", got, ok)
			got, ok = sortedOwner(ip, tc.candidates)
			check("reference", got, ok)
			got, ok = NewCache().Owner(ip, tc.candidates)
			check("Cache.Owner", got, ok)
			check("Owners", Owners([]netip.Addr{ip}, tc.candidates)[0], tc.want != "")
			check("Cache.Owners", NewCache().Owners([]netip.Addr{ip}, tc.candidates)[0], tc.want != "")
		})
	}
}

func without(list []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == drop })
}

// TestOwnersSpreadEvenly: 10,000 IPs over 10 nodes land within 20 % of the fair
// share on every node, so one node does not carry most of the traffic.
func TestOwnersSpreadEvenly(t *testing.T) {
	nodes := names(10)
	count := map[string]int{}
	for _, o := range Owners(addrs(10000), nodes) {
		count[o]++
	}
	for _, n := range nodes {
		if c := count[n]; c < 800 || c > 1200 {
			t.Fatalf("node %s owns %d of 10000 IPs; want about 1000: %v", n, c, count)
		}
	}
}

func TestAddingANodeMovesOnlyToIt(t *testing.T) {
	nodes := names(50)
	ips := addrs(500)
	before := Owners(ips, nodes)
	after := Owners(ips, append(slices.Clone(nodes), "newcomer"))
	moved := 0
	for i := range ips {
		if before[i] != after[i] {
			moved++
			if after[i] != "newcomer" {
				t.Fatalf("%v moved from %s to %s, not to the new node", ips[i], before[i], after[i])
			}
		}
	}
	if moved == 0 {
		t.Fatalf("no IP moved to the new node out of %d; the ranking is not spreading", len(ips))
	}
}

// TestCacheAgreesWithOwner drives a Cache through node churn and random
// candidate subsets and compares every answer with the stateless Owner.
func TestCacheAgreesWithOwner(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	all := names(40)
	ips := addrs(200)
	c := NewCache()
	for round := range 200 {
		var cands []string
		keep := rng.Float64()
		for _, n := range all[:10+rng.IntN(len(all)-10)] { // the node set grows over time
			if rng.Float64() < keep {
				cands = append(cands, n)
			}
		}
		got := c.Owners(ips, cands)
		want := Owners(ips, cands)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: Cache.Owners disagrees with Owners for candidates %v", round, cands)
		}
		if round%50 == 0 {
			c.Reset()
		}
	}
	c.Reset()
	if got, want := c.Owners(ips, all), Owners(ips, all); !slices.Equal(got, want) {
		t.Fatal("Cache disagrees after Reset")
	}
}

// FuzzOwnerStable: removing a node that does not own an IP never changes the
// owner, and the cached, batched and reference implementations always agree.
func FuzzOwnerStable(f *testing.F) {
	f.Add([]byte{192, 0, 2, 1}, uint8(5), uint8(2), "node-")
	f.Add([]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint8(1), uint8(0), "")
	f.Add([]byte{198, 51, 100, 200}, uint8(64), uint8(63), "a#b")
	f.Fuzz(func(t *testing.T, raw []byte, n uint8, drop uint8, prefix string) {
		ip, ok := netip.AddrFromSlice(raw)
		if !ok || n == 0 {
			return
		}
		cands := make([]string, n)
		for i := range cands {
			cands[i] = fmt.Sprintf("%s%d", prefix, i)
		}
		owner, ok := Owner(ip, cands)
		if !ok {
			t.Fatal("no owner for a non-empty candidate list")
		}
		if ref, _ := sortedOwner(ip, cands); ref != owner {
			t.Fatalf("Owner = %q, reference = %q", owner, ref)
		}
		c := NewCache()
		if got, _ := c.Owner(ip, cands); got != owner {
			t.Fatalf("Cache.Owner = %q, want %q", got, owner)
		}
		victim := cands[int(drop)%len(cands)]
		if victim == owner {
			return
		}
		rest := slices.DeleteFunc(slices.Clone(cands), func(s string) bool { return s == victim })
		if got, _ := Owner(ip, rest); got != owner {
			t.Fatalf("removing non-owner %q moved %v from %q to %q", victim, ip, owner, got)
		}
		if got, _ := c.Owner(ip, rest); got != owner {
			t.Fatalf("Cache: removing non-owner %q moved %v from %q to %q", victim, ip, owner, got)
		}
	})
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("worker-%04d", i)
	}
	return out
}

// addrs returns n addresses from 198.51.100.0/24 upwards (wrapping into the
// next /24s is fine for hashing: no packet is ever sent).
func addrs(n int) []netip.Addr {
	out := make([]netip.Addr, n)
	a := netip.MustParseAddr("198.51.100.0")
	for i := range out {
		out[i] = a
		a = a.Next()
	}
	return out
}

// The cache forgets departed nodes: nodes that come and go (autoscaling, node
// pools replaced) must not grow it forever.
func TestCacheIsBounded(t *testing.T) {
	c := NewCache()
	ip := netip.MustParseAddr("192.0.2.1")
	for gen := 0; gen < 100; gen++ {
		cands := []string{fmt.Sprintf("node-%d-a", gen), fmt.Sprintf("node-%d-b", gen), "stable"}
		got := c.Owners([]netip.Addr{ip}, cands)
		if want, _ := Owner(ip, cands); got[0] != want {
			t.Fatalf("generation %d: owner %s, want %s", gen, got[0], want)
		}
		if n := len(c.nodes); n > 2*len(cands)+cacheSlack+len(cands) {
			t.Fatalf("generation %d: cache holds %d nodes", gen, n)
		}
	}
}
