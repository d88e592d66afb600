package speaker

import (
	"net/netip"
	"reflect"
	"testing"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	metallbv1beta2 "github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/config"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func bgpFixture(t *testing.T) (*config.BGPConfig, config.Pools) {
	t.Helper()
	pools, _ := config.BuildPools([]metallbv1beta1.IPAddressPool{
		{ObjectMeta: metav1.ObjectMeta{Name: "pub"}, Spec: metallbv1beta1.IPAddressPoolSpec{Addresses: []string{"198.18.0.0/24", "2001:db8:5::/120"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "l2only"}, Spec: metallbv1beta1.IPAddressPoolSpec{Addresses: []string{"198.18.9.0/24"}}},
	}, nil)
	peer := func(name, addr string, sel map[string]string) metallbv1beta2.BGPPeer {
		p := metallbv1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: metallbv1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64500, Address: addr}}
		if sel != nil {
			p.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: sel}}
		}
		return p
	}
	c := config.BuildBGP(config.BGPObjects{
		Peers: []metallbv1beta2.BGPPeer{peer("tor4", "192.0.2.1", nil), peer("tor6", "2001:db8::1", nil), peer("rack-b", "192.0.2.2", map[string]string{"rack": "b"})},
		Ads: []metallbv1beta1.BGPAdvertisement{
			{ObjectMeta: metav1.ObjectMeta{Name: "pub"}, Spec: metallbv1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"pub"}, Communities: []string{"65000:1"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "pub-b-only"}, Spec: metallbv1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"pub"}, Peers: []string{"rack-b"}, LocalPref: 200}},
		},
	}, pools.Pools)
	if len(c.Problems) != 0 {
		t.Fatalf("fixture problems: %v", c.Problems)
	}
	return &c, pools.Pools
}

func TestDecideBGP(t *testing.T) {
	cfg, pools := bgpFixture(t)
	v4 := netip.MustParseAddr("198.18.0.5")
	v6 := netip.MustParseAddr("2001:db8:5::5")
	cluster := Service{Namespace: "ns", Name: "web", IPs: []netip.Addr{v4, v6}, Serving: true, ServingNodes: map[string]bool{"n2": true}}
	local := cluster
	local.Name, local.Local = "local", true
	for name, tc := range map[string]struct {
		self      *Node
		svc       Service
		wantPeers []string
		reason    string
		routes    int
	}{
		"every eligible node advertises a Cluster Service to its family's peers": {
			self: &Node{Name: "n1"}, svc: cluster, wantPeers: []string{"tor4", "tor6"}, routes: 2,
		},
		"an ad naming a peer adds that peer where the node has it": {
			self: &Node{Name: "n1", Labels: map[string]string{"rack": "b"}}, svc: cluster, wantPeers: []string{"rack-b", "tor4", "tor6"}, routes: 4,
		},
		"externalTrafficPolicy Local: a node without a local endpoint withdraws": {
			self: &Node{Name: "n1"}, svc: local, reason: ReasonNoLocalEndpoints,
		},
		"externalTrafficPolicy Local: a node with a local endpoint advertises": {
			self: &Node{Name: "n2"}, svc: local, wantPeers: []string{"tor4", "tor6"}, routes: 2,
		},
		"no endpoint anywhere withdraws": {
			self: &Node{Name: "n1"}, svc: Service{Namespace: "ns", Name: "web", IPs: []netip.Addr{v4}}, reason: ReasonNoEndpoints,
		},
		"NetworkUnavailable withdraws": {
			self: &Node{Name: "n1", NetworkUnavailable: true}, svc: cluster, reason: ReasonNodeNetworkUnavailable,
		},
		"the exclude-from-external-load-balancers label withdraws": {
			self: &Node{Name: "n1", Labels: map[string]string{excludeBalancersLabelKey: ""}}, svc: cluster, reason: ReasonNodeLabeledExcludeBalancers,
		},
		"a pool no BGPAdvertisement selects is not advertised": {
			self: &Node{Name: "n1"}, svc: Service{Namespace: "ns", Name: "l2", IPs: []netip.Addr{netip.MustParseAddr("198.18.9.1")}, Serving: true}, reason: ReasonNoMatchingAdvertisement,
		},
		"an IP outside every pool is not advertised": {
			self: &Node{Name: "n1"}, svc: Service{Namespace: "ns", Name: "x", IPs: []netip.Addr{netip.MustParseAddr("203.0.113.9")}, Serving: true}, reason: ReasonIPNotAllowed,
		},
		"a missing Node object advertises nothing": {
			self: nil, svc: cluster, reason: ReasonNodeNotFound,
		},
	} {
		t.Run(name, func(t *testing.T) {
			d := DecideBGP(BGPInput{Self: tc.self, DefaultRouterID: netip.MustParseAddr("192.0.2.11"), Config: cfg, Pools: pools, Services: []Service{tc.svc}})
			r := d.Services[0]
			if r.Reason != tc.reason || !reflect.DeepEqual(r.Peers, tc.wantPeers) {
				t.Fatalf("got peers %v reason %q, want %v %q", r.Peers, r.Reason, tc.wantPeers, tc.reason)
			}
			if len(d.Desired.Routes) != tc.routes {
				t.Fatalf("routes %+v, want %d", d.Desired.Routes, tc.routes)
			}
		})
	}
}

func TestDecideBGPRouterIDConflict(t *testing.T) {
	pools, _ := config.BuildPools(nil, nil)
	mk := func(name, addr, rid string) metallbv1beta2.BGPPeer {
		return metallbv1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: metallbv1beta2.BGPPeerSpec{MyASN: 1, ASN: 2, Address: addr, RouterID: rid}}
	}
	c := config.BuildBGP(config.BGPObjects{Peers: []metallbv1beta2.BGPPeer{mk("a", "192.0.2.1", "10.0.0.1"), mk("b", "192.0.2.2", "10.0.0.2")}}, pools.Pools)
	d := DecideBGP(BGPInput{Self: &Node{Name: "n1"}, DefaultRouterID: netip.MustParseAddr("192.0.2.11"), Config: &c})
	if d.RouterID != netip.MustParseAddr("10.0.0.1") || len(d.Problems) != 1 {
		t.Fatalf("router ID %s problems %v", d.RouterID, d.Problems)
	}
}
