package bgp_test

import (
	"net/netip"
	"testing"

	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/test/bgplab"
)

// One router, two nodes, one IPv4 and one IPv6 Service IP: the router sees
// both nodes as next hops, then none once the routes are withdrawn.
func TestFRRAdvertiseAndWithdraw(t *testing.T) {
	o := bedOpts{kinds: []string{bgplab.FRR}}
	b := newBed(t, o)
	v4 := netip.MustParsePrefix("198.18.0.10/32")
	v6 := netip.MustParsePrefix("2001:db8:5::10/128")
	b.applyAll(t, bgp.Desired{Peers: b.peers(o), Routes: []bgp.Route{{Prefix: v4}, {Prefix: v6}}})
	r := b.routers[bgplab.FRR]
	waitNextHops(t, r, v4, nodeAddrs(b.lab, false, 1, 2))
	waitNextHops(t, r, v6, nodeAddrs(b.lab, true, 1, 2))
	b.applyAll(t, bgp.Desired{Peers: b.peers(o)})
	waitNextHops(t, r, v4, nil)
	waitNextHops(t, r, v6, nil)
}
