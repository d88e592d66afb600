package speaker

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go4.org/netipx"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/rendezvous"
)

// The tests use nodes n1..n3. The owner of each test IP among all three is
// computed with rendezvous.Owner so the tables say "owner" instead of
// hard-coding hash orders.

func pool(name string, lbls map[string]string, cidrs ...string) config.Pool {
	p := config.Pool{Labels: lbls}
	p.Name = name
	for _, c := range cidrs {
		p.Ranges = append(p.Ranges, netipx.RangeOfPrefix(netip.MustParsePrefix(c)))
	}
	return p
}

func sel(t testing.TB, s string) labels.Selector {
	t.Helper()
	out, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ips(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	return out
}

func svc(name string, ip ...string) Service {
	return Service{Namespace: "ns", Name: name, IPs: ips(ip...), Serving: true}
}

func nodes(names ...string) []Node {
	var out []Node
	for _, n := range names {
		out = append(out, Node{Name: n, Labels: map[string]string{"kubernetes.io/hostname": n}, Interfaces: []string{"eth0", "eth1"}, InterfacesKnown: true})
	}
	return out
}

var all3 = []string{"n1", "n2", "n3"}

func baseConfig(self string) *Config {
	return &Config{
		Self:  self,
		Nodes: nodes(all3...),
		Pools: config.Pools{pool("p4", map[string]string{"tier": "gold"}, "192.0.2.0/24"), pool("p6", nil, "2001:db8::/64"), pool("other", map[string]string{"tier": "tin"}, "198.51.100.0/24")},
		Ads:   []config.L2Ad{{Name: "all"}},
	}
}

// owner of ip among candidates, via the rendezvous package.
func owner(t *testing.T, ip string, cands ...string) string {
	t.Helper()
	o, ok := rendezvous.Owner(netip.MustParseAddr(ip), cands)
	if !ok {
		t.Fatalf("no owner for %s among %v", ip, cands)
	}
	return o
}

// other returns a node of all3 different from the given ones.
func notIn(t *testing.T, ex ...string) string {
	for _, n := range all3 {
		if !slices.Contains(ex, n) {
			return n
		}
	}
	t.Fatal("no node left")
	return ""
}

// result returns the single ServiceResult for name.
func result(t *testing.T, r Result, name string) ServiceResult {
	t.Helper()
	for _, s := range r.Services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no result for %s in %+v", name, r.Services)
	return ServiceResult{}
}

func TestDecide(t *testing.T) {
	const ip = "192.0.2.10"
	cases := []struct {
		name string
		// mutate builds the scenario; self is given so a case can pick the
		// node it wants to look from.
		mutate func(t *testing.T, c *Config)
		self   func(t *testing.T) string
		alive  []string // default all3
		quorum *bool    // default true
		// deadOwner removes the all-alive owner from the alive set.
		deadOwner bool
		// want: announcing node (computed), reason for self, self owns, ifaces
		wantNode   func(t *testing.T) string
		wantReason string
		wantOwned  bool
		wantIfaces []string
	}{
		{
			name:      "owner announces on all interfaces",
			self:      func(t *testing.T) string { return owner(t, ip, all3...) },
			wantNode:  func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned: true,
		},
		{
			name:       "non-owner does not announce",
			self:       func(t *testing.T) string { return notIn(t, owner(t, ip, all3...)) },
			wantNode:   func(t *testing.T) string { return owner(t, ip, all3...) },
			wantReason: ReasonNotOwner,
		},
		{
			name:       "out of quorum stops at once",
			self:       func(t *testing.T) string { return owner(t, ip, all3...) },
			quorum:     new(bool),
			wantNode:   func(t *testing.T) string { return owner(t, ip, all3...) },
			wantReason: ReasonNotInQuorum,
		},
		{
			name: "dead owner: next alive node takes over",
			self: func(t *testing.T) string {
				o := owner(t, ip, all3...)
				rest := slices.DeleteFunc(slices.Clone(all3), func(s string) bool { return s == o })
				return owner(t, ip, rest...)
			},
			deadOwner: true,
			wantNode: func(t *testing.T) string {
				o := owner(t, ip, all3...)
				return owner(t, ip, slices.DeleteFunc(slices.Clone(all3), func(s string) bool { return s == o })...)
			},
			wantOwned: true,
		},
		{
			name:       "no IP allocated",
			self:       func(*testing.T) string { return "n1" },
			mutate:     func(_ *testing.T, c *Config) { c.Services[0].IPs = nil },
			wantNode:   func(*testing.T) string { return "" },
			wantReason: ReasonNoIPAllocated,
		},
		{
			name:       "IP outside every pool",
			self:       func(*testing.T) string { return "n1" },
			mutate:     func(_ *testing.T, c *Config) { c.Services[0].IPs = ips("203.0.113.7") },
			wantNode:   func(*testing.T) string { return "" },
			wantReason: ReasonIPNotAllowed,
		},
		{
			name:       "no advertisement at all",
			self:       func(*testing.T) string { return "n1" },
			mutate:     func(_ *testing.T, c *Config) { c.Ads = nil },
			wantNode:   func(*testing.T) string { return "" },
			wantReason: ReasonNoMatchingAdvertisement,
		},
		{
			name:       "ad names another pool",
			self:       func(*testing.T) string { return "n1" },
			mutate:     func(_ *testing.T, c *Config) { c.Ads[0].Pools = []string{"other"} },
			wantNode:   func(*testing.T) string { return "" },
			wantReason: ReasonNoMatchingAdvertisement,
		},
		{
			name:      "ad names the pool",
			self:      func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate:    func(_ *testing.T, c *Config) { c.Ads[0].Pools = []string{"other", "p4"} },
			wantNode:  func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned: true,
		},
		{
			name:      "pool selector matches the pool",
			self:      func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate:    func(t *testing.T, c *Config) { c.Ads[0].PoolSelectors = []labels.Selector{sel(t, "tier=gold")} },
			wantNode:  func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned: true,
		},
		{
			name:       "pool selector matching nothing selects no pools",
			self:       func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate:     func(t *testing.T, c *Config) { c.Ads[0].PoolSelectors = []labels.Selector{sel(t, "tier=platinum")} },
			wantNode:   func(*testing.T) string { return "" },
			wantReason: ReasonNoMatchingAdvertisement,
		},
		{
			name: "pool names and selectors are ORed",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				c.Ads[0].Pools = []string{"p4"}
				c.Ads[0].PoolSelectors = []labels.Selector{sel(t, "tier=platinum")}
			},
			wantNode:  func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned: true,
		},
		{
			name: "node selector excludes the would-be owner",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				o := owner(t, ip, all3...)
				c.Ads[0].NodeSelectors = []labels.Selector{sel(t, "kubernetes.io/hostname!="+o)}
			},
			wantNode: func(t *testing.T) string {
				o := owner(t, ip, all3...)
				return owner(t, ip, slices.DeleteFunc(slices.Clone(all3), func(s string) bool { return s == o })...)
			},
			wantReason: ReasonNodeNotSelected,
		},
		{
			name: "node selected by a second ad",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				o := owner(t, ip, all3...)
				c.Ads[0].NodeSelectors = []labels.Selector{sel(t, "kubernetes.io/hostname!="+o)}
				c.Ads = append(c.Ads, config.L2Ad{Name: "second", Selection: config.Selection{NodeSelectors: []labels.Selector{sel(t, "kubernetes.io/hostname="+o)}}, Interfaces: []string{"eth1"}})
			},
			wantNode:   func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned:  true,
			wantIfaces: []string{"eth1"}, // only the second ad selects the owner
		},
		{
			name: "service selector: ad does not match the service",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				c.Ads[0].ServiceSelectors = []labels.Selector{sel(t, "app=db")}
				c.Services[0].Labels = map[string]string{"app": "web"}
			},
			wantNode:   func(*testing.T) string { return "" },
			wantReason: ReasonNoMatchingAdvertisement,
		},
		{
			name: "service selector matches",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				c.Ads[0].ServiceSelectors = []labels.Selector{sel(t, "app=db"), sel(t, "app=web")}
				c.Services[0].Labels = map[string]string{"app": "web"}
			},
			wantNode:  func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned: true,
		},
		{
			name:       "ad interfaces restrict the announcement",
			self:       func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate:     func(_ *testing.T, c *Config) { c.Ads[0].Interfaces = []string{"eth1", "bond0"} },
			wantNode:   func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned:  true,
			wantIfaces: []string{"eth1"},
		},
		{
			name: "union of interfaces over matching ads",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(_ *testing.T, c *Config) {
				c.Ads[0].Interfaces = []string{"eth1"}
				c.Ads = append(c.Ads, config.L2Ad{Name: "b", Interfaces: []string{"eth0"}})
			},
			wantNode:   func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned:  true,
			wantIfaces: []string{"eth0", "eth1"},
		},
		{
			name: "an ad without interfaces means all of them",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(_ *testing.T, c *Config) {
				c.Ads = append(c.Ads, config.L2Ad{Name: "b", Interfaces: []string{"eth0"}})
			},
			wantNode:  func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned: true,
		},
		{
			name: "owner lacking the ad's interface is not eligible",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				o := owner(t, ip, all3...)
				c.Ads[0].Interfaces = []string{"eth1"}
				for i := range c.Nodes {
					if c.Nodes[i].Name == o {
						c.Nodes[i].Interfaces = []string{"eth0"}
					}
				}
			},
			wantNode: func(t *testing.T) string {
				o := owner(t, ip, all3...)
				return owner(t, ip, slices.DeleteFunc(slices.Clone(all3), func(s string) bool { return s == o })...)
			},
			wantReason: ReasonNoMatchingIface,
		},
		{
			name: "owner whose interfaces are all down is not eligible",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				o := owner(t, ip, all3...)
				for i := range c.Nodes {
					if c.Nodes[i].Name == o {
						c.Nodes[i].Interfaces = []string{}
					}
				}
			},
			wantNode: func(t *testing.T) string {
				o := owner(t, ip, all3...)
				return owner(t, ip, slices.DeleteFunc(slices.Clone(all3), func(s string) bool { return s == o })...)
			},
			wantReason: ReasonNoMatchingIface,
		},
		{
			name: "unknown interfaces (no annotation) count as all",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				c.Ads[0].Interfaces = []string{"eth7"}
				for i := range c.Nodes {
					c.Nodes[i].Interfaces, c.Nodes[i].InterfacesKnown = nil, false
				}
			},
			wantNode:   func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned:  true,
			wantIfaces: []string{"eth7"},
		},
		{
			name:       "no serving endpoint anywhere",
			self:       func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate:     func(_ *testing.T, c *Config) { c.Services[0].Serving = false },
			wantNode:   func(*testing.T) string { return "" },
			wantReason: ReasonNoEndpoints,
		},
		{
			name: "ETP Local: only nodes with a serving endpoint",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				o := owner(t, ip, all3...)
				c.Services[0].Local = true
				c.Services[0].ServingNodes = map[string]bool{notIn(t, o): true}
			},
			wantNode: func(t *testing.T) string {
				return notIn(t, owner(t, ip, all3...))
			},
			wantReason: ReasonNoLocalEndpoints,
		},
		{
			name: "ETP Local: owner with a local endpoint announces",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				c.Services[0].Local = true
				c.Services[0].ServingNodes = map[string]bool{"n1": true, "n2": true, "n3": true}
			},
			wantNode:  func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned: true,
		},
		{
			name: "ETP Local: no endpoints at all",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				c.Services[0].Local = true
				c.Services[0].ServingNodes = nil
			},
			wantNode:   func(*testing.T) string { return "" },
			wantReason: ReasonNoEndpoints,
		},
		{
			name: "exclusion label makes the owner ineligible",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				o := owner(t, ip, all3...)
				for i := range c.Nodes {
					if c.Nodes[i].Name == o {
						c.Nodes[i].Labels[excludeBalancersLabelKey] = ""
					}
				}
			},
			wantNode: func(t *testing.T) string {
				o := owner(t, ip, all3...)
				return owner(t, ip, slices.DeleteFunc(slices.Clone(all3), func(s string) bool { return s == o })...)
			},
			wantReason: ReasonNodeLabeledExcludeBalancers,
		},
		{
			name: "--ignore-exclude-lb ignores the label",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				c.IgnoreExcludeLB = true
				for i := range c.Nodes {
					c.Nodes[i].Labels[excludeBalancersLabelKey] = "true"
				}
			},
			wantNode:  func(t *testing.T) string { return owner(t, ip, all3...) },
			wantOwned: true,
		},
		{
			name: "NetworkUnavailable makes the owner ineligible",
			self: func(t *testing.T) string { return owner(t, ip, all3...) },
			mutate: func(t *testing.T, c *Config) {
				o := owner(t, ip, all3...)
				for i := range c.Nodes {
					if c.Nodes[i].Name == o {
						c.Nodes[i].NetworkUnavailable = true
					}
				}
			},
			wantNode: func(t *testing.T) string {
				o := owner(t, ip, all3...)
				return owner(t, ip, slices.DeleteFunc(slices.Clone(all3), func(s string) bool { return s == o })...)
			},
			wantReason: ReasonNodeNetworkUnavailable,
		},
		{
			name:       "speaker without a Node object",
			self:       func(*testing.T) string { return "ghost" },
			alive:      []string{"ghost", "n1", "n2", "n3"},
			wantNode:   func(t *testing.T) string { return owner(t, ip, all3...) },
			wantReason: ReasonNodeNotFound,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			self := tc.self(t)
			c := baseConfig(self)
			c.Services = []Service{svc("web", ip)}
			if tc.mutate != nil {
				tc.mutate(t, c)
			}
			alive := tc.alive
			if alive == nil {
				for _, n := range c.Nodes {
					alive = append(alive, n.Name)
				}
			}
			if tc.deadOwner {
				o := owner(t, ip, all3...)
				alive = slices.DeleteFunc(slices.Clone(alive), func(s string) bool { return s == o })
			}
			quorum := tc.quorum == nil || *tc.quorum
			if !quorum {
				alive = slices.DeleteFunc(slices.Clone(alive), func(s string) bool { return s == self })
				// Peers still see us alive until DeadAfter: the others keep
				// us as owner, we stop.
				alive = append(alive, self)
			}
			r := Decide(c, alive, quorum)
			got := result(t, r, "web")
			if want := tc.wantNode(t); got.Node != want {
				t.Errorf("announcing node = %q, want %q", got.Node, want)
			}
			if got.Reason != tc.wantReason {
				t.Errorf("reason = %q, want %q", got.Reason, tc.wantReason)
			}
			ifs, owned := r.Owned[netip.MustParseAddr(ip)]
			if owned != tc.wantOwned {
				t.Errorf("owned = %v, want %v (owned map %v)", owned, tc.wantOwned, r.Owned)
			}
			if owned && !slices.Equal(ifs, tc.wantIfaces) {
				t.Errorf("interfaces = %v, want %v", ifs, tc.wantIfaces)
			}
			if owned != (got.Reason == "") {
				t.Errorf("owned=%v but reason %q", owned, got.Reason)
			}
		})
	}
}

// TestSecondAdInterfaces: the owner is selected only by an ad restricted to
// eth1, so it announces on eth1 only.
func TestSecondAdInterfaces(t *testing.T) {
	const ip = "192.0.2.10"
	o := owner(t, ip, all3...)
	c := baseConfig(o)
	c.Services = []Service{svc("web", ip)}
	c.Ads[0].NodeSelectors = []labels.Selector{sel(t, "kubernetes.io/hostname!="+o)}
	c.Ads = append(c.Ads, config.L2Ad{Name: "second", Selection: config.Selection{NodeSelectors: []labels.Selector{sel(t, "kubernetes.io/hostname="+o)}}, Interfaces: []string{"eth1"}})
	r := Decide(c, all3, true)
	if got := r.Owned[netip.MustParseAddr(ip)]; !slices.Equal(got, []string{"eth1"}) {
		t.Fatalf("owned interfaces %v, want [eth1]", got)
	}
	if got := result(t, r, "web").Interfaces; !slices.Equal(got, []string{"eth1"}) {
		t.Fatalf("service interfaces %v, want [eth1]", got)
	}
}

// TestExactlyOneAnnouncer: from every node's point of view, with any alive set,
// at most one node owns each IP, and it is the same node all agree on.
func TestExactlyOneAnnouncer(t *testing.T) {
	var services []Service
	for i := range 50 {
		s := svc("s"+string(rune('a'+i%26))+string(rune('a'+i/26)), netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}).String())
		if i%3 == 0 {
			s.Local = true
			s.ServingNodes = map[string]bool{all3[i%3]: true, all3[(i+1)%3]: true}
		}
		services = append(services, s)
	}
	for _, alive := range [][]string{all3, {"n1", "n2"}, {"n2", "n3"}, {"n1"}, {}} {
		owners := map[netip.Addr][]string{}
		for _, self := range all3 {
			c := baseConfig(self)
			c.Services = services
			in := slices.Contains(alive, self)
			r := Decide(c, alive, in)
			for ip := range r.Owned {
				owners[ip] = append(owners[ip], self)
			}
		}
		for ip, o := range owners {
			if len(o) != 1 {
				t.Errorf("alive %v: %s owned by %v", alive, ip, o)
			}
		}
		if len(alive) > 0 && len(owners) != len(services) {
			t.Errorf("alive %v: %d IPs owned, want %d", alive, len(owners), len(services))
		}
	}
}

func TestSharedIPLandsOnOneNode(t *testing.T) {
	const ip = "192.0.2.20"
	// Two Services share the IP; one is ETP Local with endpoints on two nodes:
	// the intersection decides, so both land on the same node.
	a := svc("a", ip)
	b := svc("b", ip)
	b.Local = true
	b.ServingNodes = map[string]bool{"n2": true, "n3": true}
	want := owner(t, ip, "n2", "n3")
	for _, self := range all3 {
		c := baseConfig(self)
		c.Services = []Service{a, b}
		r := Decide(c, all3, true)
		ra, rb := result(t, r, "a"), result(t, r, "b")
		if ra.Node != want || rb.Node != want {
			t.Fatalf("self %s: a on %q, b on %q, want both on %q", self, ra.Node, rb.Node, want)
		}
		_, owned := r.Owned[netip.MustParseAddr(ip)]
		if owned != (self == want) {
			t.Fatalf("self %s owned=%v", self, owned)
		}
	}
}

func TestSharedIPNoCommonCandidate(t *testing.T) {
	const ip = "192.0.2.21"
	a := svc("a", ip)
	a.Local, a.ServingNodes = true, map[string]bool{"n1": true}
	b := svc("b", ip)
	b.Local, b.ServingNodes = true, map[string]bool{"n2": true}
	c := baseConfig("n2")
	c.Services = []Service{a, b}
	r := Decide(c, all3, true)
	// "a" sorts first and decides: n1 announces, b has no announcer.
	if got := result(t, r, "a").Node; got != "n1" {
		t.Fatalf("a on %q, want n1", got)
	}
	if got := result(t, r, "b"); got.Node != "" || got.Reason != ReasonSharedIPConflict {
		t.Fatalf("b = %+v, want no node and %s", got, ReasonSharedIPConflict)
	}
	if len(r.Owned) != 0 {
		t.Fatalf("n2 owns %v", r.Owned)
	}
}

func TestDualStackAndIPv6(t *testing.T) {
	// A dual-stack Service is decided on its first IP; both IPs go together.
	ds := svc("ds", "2001:db8:1::5", "192.0.2.5")
	v6 := svc("v6", "2001:db8::6")
	c := baseConfig("n1")
	c.Services = []Service{ds, v6}
	// ds's IPs are in no single pool: ipNotAllowed.
	r := Decide(c, all3, true)
	if got := result(t, r, "ds"); got.Reason != ReasonIPNotAllowed || got.Node != "" {
		t.Fatalf("ds across pools: %+v, want %s", got, ReasonIPNotAllowed)
	}
	c.Pools = append(c.Pools, pool("dual", nil, "2001:db8:1::/64", "198.18.0.0/24"))
	c.Services[0].IPs = ips("2001:db8:1::5", "198.18.0.5")
	want := owner(t, "2001:db8:1::5", all3...)
	want6 := owner(t, "2001:db8::6", all3...)
	for _, self := range all3 {
		c.Self = self
		r = Decide(c, all3, true)
		if got := result(t, r, "ds"); got.Node != want {
			t.Fatalf("self %s: ds = %+v, want on %s", self, got, want)
		}
		if got := result(t, r, "v6"); got.Node != want6 {
			t.Fatalf("self %s: v6 = %+v, want on %s", self, got, want6)
		}
		for _, ip := range []string{"2001:db8:1::5", "198.18.0.5"} {
			if _, ok := r.Owned[netip.MustParseAddr(ip)]; ok != (self == want) {
				t.Fatalf("self %s: %s owned=%v", self, ip, ok)
			}
		}
		if _, ok := r.Owned[netip.MustParseAddr("2001:db8::6")]; ok != (self == want6) {
			t.Fatalf("self %s: v6 owned=%v", self, ok)
		}
	}
}

func TestPlanReuseAcrossLiveness(t *testing.T) {
	var services []Service
	for i := range 200 {
		services = append(services, svc("s"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26)), netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}).String()))
	}
	c := baseConfig("n1")
	c.Services = services
	p := NewPlan(c)
	cache := rendezvous.NewCache()
	for _, alive := range [][]string{all3, {"n1", "n3"}, {"n1"}, all3} {
		got := p.Decide(alive, true, cache)
		want := Decide(c, alive, true)
		if len(got.Owned) != len(want.Owned) {
			t.Fatalf("alive %v: cached plan owns %d, fresh %d", alive, len(got.Owned), len(want.Owned))
		}
		for ip := range want.Owned {
			if _, ok := got.Owned[ip]; !ok {
				t.Fatalf("alive %v: %s differs", alive, ip)
			}
		}
	}
}

// Services sharing any IP are decided together: a dual-stack Service [X4, Y6]
// sharing Y6 with an IPv6-only Service is one group, so exactly one node owns
// Y6 and it is the node that owns X4. Grouping on the first IP only elected
// X4's group and Y6's group separately, and two nodes answered NDP for Y6.
func TestSharedIPInAnyPositionIsDecidedTogether(t *testing.T) {
	const x4 = "198.18.0.5"
	// A Y6 whose owner on its own differs from X4's, so the old grouping fails.
	y6 := ""
	for i := 1; i < 200 && y6 == ""; i++ {
		cand := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(i)}).String()
		if owner(t, cand, all3...) != owner(t, x4, all3...) {
			y6 = cand
		}
	}
	if y6 == "" {
		t.Fatal("no IPv6 address with another owner than " + x4)
	}
	cases := map[string]struct {
		services []Service
	}{
		"dual-stack first, IPv6-only second": {services: []Service{svc("a-ds", x4, y6), svc("b-v6", y6)}},
		"IPv6-only sorts first":              {services: []Service{svc("a-v6", y6), svc("b-ds", x4, y6)}},
		"IPv6 first in the dual-stack pair":  {services: []Service{svc("a-ds", y6, x4), svc("b-v6", y6)}},
		"chained through a third Service":    {services: []Service{svc("a-v4", x4), svc("b-ds", x4, y6), svc("c-v6", y6)}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := baseConfig("n1")
			c.Pools = append(c.Pools, pool("dual", nil, "2001:db8:1::/64", "198.18.0.0/24"))
			c.Services = tc.services
			owners := map[string][]string{}
			nodesOf := map[string]map[string]bool{}
			for _, self := range all3 {
				c.Self = self
				r := Decide(c, all3, true)
				for ip := range r.Owned {
					owners[ip.String()] = append(owners[ip.String()], self)
				}
				for _, s := range r.Services {
					if nodesOf[s.Name] == nil {
						nodesOf[s.Name] = map[string]bool{}
					}
					nodesOf[s.Name][s.Node] = true
				}
			}
			if len(owners[y6]) != 1 || len(owners[x4]) != 1 || owners[y6][0] != owners[x4][0] {
				t.Fatalf("owners of %s: %v, of %s: %v; want the same single node", y6, owners[y6], x4, owners[x4])
			}
			for name, ns := range nodesOf {
				if len(ns) != 1 || !ns[owners[x4][0]] {
					t.Fatalf("%s reported on %v, want %s from every node", name, ns, owners[x4][0])
				}
			}
		})
	}
}

func TestHoldPlanGains(t *testing.T) {
	a, b, c := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.3")
	set := func(ips ...netip.Addr) map[netip.Addr][]string {
		m := map[netip.Addr][]string{}
		for _, ip := range ips {
			m[ip] = nil
		}
		return m
	}
	tests := map[string]struct {
		next, owned, prev map[netip.Addr][]string
		want              map[netip.Addr][]string
	}{
		"an IP already owned stays":                       {next: set(a), owned: set(a), prev: set(), want: set(a)},
		"a gain only the new plan gives waits":            {next: set(a, b), owned: set(a), prev: set(a), want: set(a)},
		"a gain the old plan gives too (liveness) passes": {next: set(a, b), owned: set(a), prev: set(a, b), want: set(a, b)},
		"losses pass at once":                             {next: set(), owned: set(a, b), prev: set(a, b), want: set()},
		"mixed":                                           {next: set(b, c), owned: set(a, b), prev: set(a), want: set(b)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := holdPlanGains(tc.next, tc.owned, tc.prev)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for ip := range tc.want {
				if _, ok := got[ip]; !ok {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
