package bgp_test

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/test/bgplab"
)

// GoBGP's native BFD (bgplab's timers: 300 ms x 5) comes up with FRR's bfdd and BIRD, and a
// node's link cut makes the routers drop that node's path long before the
// 9 s hold time (the time is logged, not asserted).
func TestBFDLinkCut(t *testing.T) {
	o := bedOpts{kinds: []string{bgplab.FRR, bgplab.BIRD}, bfd: true}
	b := newBed(t, o)
	v4 := netip.MustParsePrefix("198.18.0.50/32")
	b.applyAll(t, bgp.Desired{Peers: b.peers(o), Routes: []bgp.Route{{Prefix: v4}}})
	for _, k := range o.kinds {
		r := b.routers[k]
		waitNextHops(t, r, v4, nodeAddrs(b.lab, false, 1, 2))
		eventually(t, 60*time.Second, k+" BFD sessions up", func() string {
			up, err := r.BFDUp()
			if err != nil {
				return err.Error()
			}
			for _, n := range b.lab.Nodes {
				if !up[n.IPv4] || !up[n.IPv6] {
					return fmt.Sprintf("%v", up)
				}
			}
			return ""
		})
	}
	if err := b.lab.PortDown(1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, k := range o.kinds {
		waitNextHops(t, b.routers[k], v4, nodeAddrs(b.lab, false, 2))
		t.Logf("%s dropped node 1 after %s (BFD %dms x %d, hold time 9s)", k, time.Since(start).Round(time.Millisecond), bgplab.BFDIntervalMS, bgplab.BFDMultiplier)
	}
}
