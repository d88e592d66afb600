package bgp_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/test/bgplab"
)

// BGPPeer.vrf: the session runs over a Linux VRF device on the node (its
// socket bound to the VRF), reaching the router through an interface that
// only the VRF's routing table knows.
func TestVRFSession(t *testing.T) {
	o := bedOpts{nodes: 1}
	b := newBed(t, o)
	vrfAddr := netip.MustParseAddr("192.0.2.31")
	spec := bgplab.RouterSpec{Kind: bgplab.FRR, Name: "rf", ASN: frrASN, IPv4: frrV4,
		Neighbors: []bgplab.Neighbor{{Addr: vrfAddr, ASN: nodeASN}}}
	r, err := bgplab.StartRouter(b.lab, routerDir(t), spec)
	if err != nil {
		t.Fatal(err)
	}
	ns := b.lab.NodeNS(1)
	if _, err := b.lab.AddNodeLink(1, "eth2"); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"link", "add", "red", "type", "vrf", "table", "10"},
		{"link", "set", "red", "up"},
		{"link", "set", "eth2", "master", "red"},
		{"addr", "add", vrfAddr.String() + "/24", "dev", "eth2"},
	} {
		if err := b.lab.IP(ns, args...); err != nil {
			if strings.Contains(err.Error(), "vrf") {
				t.Skipf("no VRF support in this kernel: %v", err)
			}
			t.Fatal(err)
		}
	}
	// Without the VRF the node reaches the router through eth0 (main
	// table); the session must come from the VRF address.
	pfx := netip.MustParsePrefix("198.18.0.70/32")
	p := bgp.Peer{Name: "red", Address: frrV4, MyASN: nodeASN, PeerASN: frrASN, VRF: "red", HoldTime: 9e9, KeepaliveTime: 3e9, ConnectTime: 1e9}
	b.applyNode(t, 0, bgp.Desired{Peers: []bgp.Peer{p}, Routes: []bgp.Route{{Prefix: pfx}}})
	waitNextHops(t, r, pfx, []netip.Addr{vrfAddr})
}
