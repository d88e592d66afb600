package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
	"github.com/prometheus/client_golang/prometheus"
)

// These tests run the engine against GoBGP "routers" on loopback addresses
// (127.0.0.0/8, no root needed): per-peer selection and attributes, and
// that changing one peer's routes never resets another session. Interop
// with FRR, BIRD and gobgpd is in test/bgp.

var speakerSrc = netip.MustParseAddr("127.0.0.2")

type loopRouter struct {
	addr netip.Addr
	port int
	srv  *server.BgpServer
}

func freePort(t *testing.T, ip string) int {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("loopback unavailable: %v", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func newLoopRouter(t *testing.T, addr string, asn uint32) *loopRouter {
	t.Helper()
	port := freePort(t, addr)
	s := server.NewBgpServer()
	go s.Serve()
	ctx := context.Background()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: asn, RouterId: addr, ListenPort: int32(port), ListenAddresses: []string{addr}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	if err := s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: speakerSrc.String(), PeerAsn: 64512},
		Transport: &api.Transport{PassiveMode: true, LocalAddress: addr},
	}}); err != nil {
		t.Fatal(err)
	}
	return &loopRouter{addr: netip.MustParseAddr(addr), port: port, srv: s}
}

func (r *loopRouter) peer(name string) Peer {
	return Peer{Name: name, Address: r.addr, Port: uint16(r.port), MyASN: 64512, PeerASN: 64500, SourceAddress: speakerSrc, ConnectTime: time.Second, HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second}
}

// rib: prefix -> sorted standard communities as "a:b" joined.
func (r *loopRouter) rib(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := r.srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: bgppkt.RF_IPv4_UC}, func(p bgppkt.NLRI, paths []*apiutil.Path) {
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
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *loopRouter) established(t *testing.T) (bool, uint32) {
	t.Helper()
	var up bool
	var count uint32
	_ = r.srv.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
		up = p.GetState().GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED
		count = p.GetState().GetFlops()
	})
	return up, count
}

func waitRIB(t *testing.T, r *loopRouter, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := r.rib(t)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("router %s RIB %v, want %v", r.addr, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestEnginePerPeerRoutesWithoutResets(t *testing.T) {
	a := newLoopRouter(t, "127.0.0.11", 64500)
	b := newLoopRouter(t, "127.0.0.12", 64500)
	e, err := New(context.Background(), Options{RouterID: netip.MustParseAddr("192.0.2.11"), ASN: 64512})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	pa, pb := a.peer("a"), b.peer("b")
	x := netip.MustParsePrefix("198.18.0.1/32")
	y := netip.MustParsePrefix("198.18.0.2/32")
	apply := func(d Desired) {
		t.Helper()
		if refused, err := e.Apply(context.Background(), d); err != nil || len(refused) > 0 {
			t.Fatalf("apply: %v %v", err, refused)
		}
	}
	c := func(a, b uint32) uint32 { return a<<16 | b }

	steps := []struct {
		name   string
		routes []Route
		wantA  map[string]string
		wantB  map[string]string
	}{
		{"x to both, y to b only with a community",
			[]Route{{Prefix: x}, {Prefix: y, Peers: []string{pb.Key()}, Attrs: Attrs{Communities: []uint32{c(1, 1)}}}},
			map[string]string{x.String(): "[]"}, map[string]string{x.String(): "[]", y.String(): "[1:1]"}},
		{"x gets a community for a only",
			[]Route{{Prefix: x, Peers: []string{pa.Key()}, Attrs: Attrs{Communities: []uint32{c(2, 2)}}}, {Prefix: x, Peers: []string{pb.Key()}}, {Prefix: y, Peers: []string{pb.Key()}, Attrs: Attrs{Communities: []uint32{c(1, 1)}}}},
			map[string]string{x.String(): "[2:2]"}, map[string]string{x.String(): "[]", y.String(): "[1:1]"}},
		{"y moves from b to a",
			[]Route{{Prefix: x}, {Prefix: y, Peers: []string{pa.Key()}}},
			map[string]string{x.String(): "[]", y.String(): "[]"}, map[string]string{x.String(): "[]"}},
		{"everything withdrawn",
			nil, map[string]string{}, map[string]string{}},
	}
	apply(Desired{Peers: []Peer{pa, pb}})
	for _, r := range []*loopRouter{a, b} {
		deadline := time.Now().Add(60 * time.Second)
		for up, _ := r.established(t); !up; up, _ = r.established(t) {
			if time.Now().After(deadline) {
				t.Fatalf("router %s: session not established", r.addr)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i, s := range steps {
		apply(Desired{Peers: []Peer{pa, pb}, Routes: s.routes})
		waitRIB(t, a, s.wantA)
		waitRIB(t, b, s.wantB)
		if i == 0 {
			checkMetrics(t, e, map[string]float64{
				fmt.Sprintf("metallb_bgp_session_up{peer=127.0.0.11:%d}", a.port):               1,
				fmt.Sprintf("metallb_bgp_session_up{peer=127.0.0.12:%d}", b.port):               1,
				fmt.Sprintf("metallb_bgp_announced_prefixes_total{peer=127.0.0.11:%d}", a.port): 1,
				fmt.Sprintf("metallb_bgp_announced_prefixes_total{peer=127.0.0.12:%d}", b.port): 2,
			})
		}
	}
	// Removing peer a leaves b's session alone.
	apply(Desired{Peers: []Peer{pb}, Routes: []Route{{Prefix: x}}})
	waitRIB(t, b, map[string]string{x.String(): "[]"})
	for _, r := range []*loopRouter{b} {
		if up, flops := r.established(t); !up || flops != 0 {
			t.Errorf("router %s: established %v after %d flops; want no reset", r.addr, up, flops)
		}
	}
	if up, _ := a.established(t); up {
		// a's session is closed by the Cease of DeletePeer.
		deadline := time.Now().Add(60 * time.Second)
		for up, _ = a.established(t); up && time.Now().Before(deadline); up, _ = a.established(t) {
			time.Sleep(50 * time.Millisecond)
		}
		if up {
			t.Errorf("router a still established after its peer was removed")
		}
	}
}

func checkMetrics(t *testing.T, e *Engine, want map[string]float64) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(e.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			got[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}
