package speakerapp_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	metallbv1beta2 "github.com/ironlb/ironlb/api/v1beta2"
)

// A speaker reads BGPPeer, BGPAdvertisement and IPAddressPool from the real
// API server and advertises the Service IP, with the ad's community, to a
// GoBGP router on loopback; the exclude label withdraws it; a broken second
// BGPPeer is left out without resetting the working session.
func TestBGPSpeakerAdvertisesToRouter(t *testing.T) {
	f := newFixture(t)
	router, port := loopRouter(t, "127.0.0.31")
	f.node("bgp-a", "127.0.0.21", nil)
	objs := []client.Object{
		&metallbv1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "pub"}, Spec: metallbv1beta1.IPAddressPoolSpec{Addresses: []string{"203.0.113.0/24"}}},
		&metallbv1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "pub"}, Spec: metallbv1beta1.BGPAdvertisementSpec{Communities: []string{"65000:7"}}},
		&metallbv1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "tor"}, Spec: metallbv1beta2.BGPPeerSpec{
			MyASN: 64512, ASN: 64500, Address: "127.0.0.31", Port: uint16(port),
			HoldTime: &metav1.Duration{Duration: 9e9}, ConnectTime: &metav1.Duration{Duration: 1e9}}},
	}
	for _, o := range objs {
		if err := f.c.Create(f.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	f.start("bgp-a", "127.0.0.21")
	f.lbService("web", "203.0.113.5", "bgp-a")

	f.eventually("route with community at the router", func() (bool, error) {
		got := routerRIB(t, router)
		return got["203.0.113.5/32"] == "[65000:7]", fmt.Errorf("rib %v", got)
	})
	f.eventually("ServiceBGPStatus naming the peer", func() (bool, error) {
		st := f.bgpStatuses()
		return len(st) == 1 && st[0].Status.Node == "bgp-a" && st[0].Status.ServiceName == "web" &&
			slices.Equal(st[0].Status.Peers, []string{"tor"}), fmt.Errorf("%+v", st)
	})
	f.eventually("one nodeAssigned event for bgp", func() (bool, error) {
		n, msgs := f.nodeAssigned("web")
		return n == 1 && strings.Contains(msgs[0], `"bgp"`), fmt.Errorf("%d %v", n, msgs)
	})

	// A second peer with a missing password Secret is refused; the first
	// session stays up (no flop).
	bad := &metallbv1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "bad"}, Spec: metallbv1beta2.BGPPeerSpec{
		MyASN: 64512, ASN: 64501, Address: "127.0.0.32", PasswordSecret: corev1.SecretReference{Name: "missing"}}}
	if err := f.c.Create(f.ctx, bad); err != nil {
		t.Fatal(err)
	}
	f.eventually("a Warning event on the bad BGPPeer naming the Secret", func() (bool, error) {
		var list corev1.EventList
		if err := f.c.List(f.ctx, &list, client.InNamespace(f.ns)); err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.InvolvedObject.Kind == "BGPPeer" && e.InvolvedObject.Name == "bad" && e.Type == corev1.EventTypeWarning &&
				strings.Contains(e.Message, `Secret "missing" not found`) {
				return true, nil
			}
		}
		return false, fmt.Errorf("%d events", len(list.Items))
	})
	// The exclude label withdraws the route, the session stays.
	var n corev1.Node
	if err := f.c.Get(f.ctx, types.NamespacedName{Name: "bgp-a"}, &n); err != nil {
		t.Fatal(err)
	}
	n.Labels = map[string]string{"node.kubernetes.io/exclude-from-external-load-balancers": ""}
	if err := f.c.Update(f.ctx, &n); err != nil {
		t.Fatal(err)
	}
	f.eventually("route withdrawn", func() (bool, error) {
		got := routerRIB(t, router)
		return len(got) == 0, fmt.Errorf("rib %v", got)
	})
	f.eventually("ServiceBGPStatus removed", func() (bool, error) {
		st := f.bgpStatuses()
		return len(st) == 0, fmt.Errorf("%+v", st)
	})
	up, flops := routerSession(router)
	if !up || flops != 0 {
		t.Errorf("router session established=%v flops=%d; a bad second peer or a withdrawal must not reset it", up, flops)
	}
}

func loopRouter(t *testing.T, addr string) (*server.BgpServer, int) {
	t.Helper()
	var port int
	for p := 10000 + int(seq.Add(1))*37%6000; ; p++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", addr, p))
		if err == nil {
			ln.Close()
			port = p
			break
		}
		if p > 16384 {
			t.Fatal("no free port")
		}
	}
	s := server.NewBgpServer()
	go s.Serve()
	ctx := context.Background()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: 64500, RouterId: addr, ListenPort: int32(port), ListenAddresses: []string{addr}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: 64512},
		Transport: &api.Transport{PassiveMode: true, LocalAddress: addr},
	}}); err != nil {
		t.Fatal(err)
	}
	return s, port
}

func routerRIB(t *testing.T, s *server.BgpServer) map[string]string {
	out := map[string]string{}
	_ = s.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: bgppkt.RF_IPv4_UC}, func(p bgppkt.NLRI, paths []*apiutil.Path) {
		var cs []string
		for _, a := range paths[0].Attrs {
			if c, ok := a.(*bgppkt.PathAttributeCommunities); ok {
				for _, v := range c.Value {
					cs = append(cs, fmt.Sprintf("%d:%d", v>>16, v&0xffff))
				}
			}
		}
		slices.Sort(cs)
		out[p.String()] = fmt.Sprint(cs)
	})
	return out
}

func routerSession(s *server.BgpServer) (bool, uint32) {
	var up bool
	var flops uint32
	_ = s.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		up = p.GetState().GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED
		flops = p.GetState().GetFlops()
	})
	return up, flops
}

func (f *fixture) bgpStatuses() []metallbv1beta1.ServiceBGPStatus {
	var list metallbv1beta1.ServiceBGPStatusList
	if err := f.c.List(f.ctx, &list, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	return list.Items
}
