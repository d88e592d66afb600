package bgp_test

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/test/bgplab"
)

// A client behind FRR reaches the Service IP (IPv4 and IPv6) through the
// router's ECMP routes to both nodes: every request answered, both nodes
// answer some.
func TestTrafficThroughFRRECMP(t *testing.T) {
	o := bedOpts{kinds: []string{bgplab.FRR}, kernel: true}
	b := newBed(t, o)
	r := b.routers[bgplab.FRR]
	client, err := bgplab.AddClientBehind(b.lab, r)
	if err != nil {
		t.Fatal(err)
	}
	v4 := netip.MustParsePrefix("198.18.0.40/32")
	v6 := netip.MustParsePrefix("2001:db8:5::40/128")
	for _, n := range b.lab.Nodes {
		for _, p := range []netip.Prefix{v4, v6} {
			if err := b.lab.IP(n.NS, "addr", "add", p.String(), "dev", "lo"); err != nil {
				t.Fatal(err)
			}
		}
	}
	b.applyAll(t, bgp.Desired{Peers: b.peers(o), Routes: []bgp.Route{{Prefix: v4}, {Prefix: v6}}})
	waitNextHops(t, r, v4, nodeAddrs(b.lab, false, 1, 2))
	waitNextHops(t, r, v6, nodeAddrs(b.lab, true, 1, 2))
	for _, p := range []netip.Prefix{v4, v6} {
		host := p.Addr().String()
		if p.Addr().Is6() {
			host = "[" + host + "]"
		}
		url := fmt.Sprintf("http://%s:8080/", host)
		// The kernel route appears shortly after the BGP route.
		eventually(t, 60e9, "kernel route at the router for "+p.String(), func() string {
			fam := "-4"
			if p.Addr().Is6() {
				fam = "-6"
			}
			out, err := b.lab.Run(r.NS, "ip", fam, "route", "show", p.String())
			if err != nil || !strings.Contains(out, "nexthop") {
				return fmt.Sprintf("%q %v", out, err)
			}
			return ""
		})
		seen := map[string]int{}
		for i := 0; i < 30; i++ {
			out, err := b.lab.Run(client, "curl", "-sS", "--max-time", "10", url)
			if err != nil {
				t.Fatalf("request %d to %s: %v", i, url, err)
			}
			seen[strings.TrimSpace(out)]++
		}
		if len(seen) != 2 {
			t.Errorf("%s: answers %v, want both nodes (ECMP)", p, seen)
		}
		t.Logf("%s: %v", p, seen)
	}
}
