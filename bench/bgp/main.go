// Command bgp measures how long a route takes to reach a router after the
// speaker's BGP engine is told about it (internal/bgp Engine.Apply with one
// more Service IP), against a baseline measured in the same run: a bare GoBGP
// server adding the same path with AddPath (the floor: GoBGP's own
// propagation). Both peer over loopback with the same GoBGP "router". No root.
//
//	go run ./bench/bgp -routes 200
//
// It is a benchmark, not a test: it prints figures.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/ironlb/ironlb/internal/bgp"
)

func main() {
	n := flag.Int("routes", 200, "routes added one at a time (each timed)")
	flag.Parse()
	ctx := context.Background()

	// Router: sees both the ironlb engine (from 127.0.0.2) and the bare
	// GoBGP baseline (from 127.0.0.3); reports when each prefix arrives.
	port := freePort("127.0.0.51")
	router := server.NewBgpServer()
	go router.Serve()
	must(router.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: 64500, RouterId: "127.0.0.51", ListenPort: int32(port), ListenAddresses: []string{"127.0.0.51"}}}))
	for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
		must(router.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{Conf: &api.PeerConf{NeighborAddress: src, PeerAsn: 64512}, Transport: &api.Transport{PassiveMode: true, LocalAddress: "127.0.0.51"}}}))
	}
	var mu sync.Mutex
	arrived := map[string]chan struct{}{}
	waitFor := func(key string) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		c, ok := arrived[key]
		if !ok {
			c = make(chan struct{})
			arrived[key] = c
		}
		return c
	}
	must(router.WatchEvent(ctx, server.WatchEventMessageCallbacks{OnPathUpdate: func(ps []*apiutil.Path, _ time.Time) {
		for _, p := range ps {
			if p.Withdrawal {
				continue
			}
			c := waitFor(p.PeerAddress.String() + " " + p.Nlri.String())
			mu.Lock()
			select {
			case <-c:
			default:
				close(c)
			}
			mu.Unlock()
		}
	}}, server.WatchUpdate(false, "", "")))

	// ironlb's engine.
	eng, err := bgp.New(ctx, bgp.Options{RouterID: netip.MustParseAddr("192.0.2.11"), ASN: 64512})
	must(err)
	defer eng.Close()
	peer := bgp.Peer{Name: "r", Address: netip.MustParseAddr("127.0.0.51"), Port: uint16(port), MyASN: 64512, PeerASN: 64500,
		SourceAddress: netip.MustParseAddr("127.0.0.2"), ConnectTime: time.Second, HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second}
	_, err = eng.Apply(ctx, bgp.Desired{Peers: []bgp.Peer{peer}})
	must(err)

	// Baseline: a bare GoBGP server, AddPath per route.
	base := server.NewBgpServer()
	go base.Serve()
	must(base.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: 64512, RouterId: "192.0.2.12", ListenPort: -1}}))
	must(base.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{Conf: &api.PeerConf{NeighborAddress: "127.0.0.51", PeerAsn: 64500},
		Transport: &api.Transport{RemotePort: uint32(port), LocalAddress: "127.0.0.3"}, Timers: &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1}}}}))

	waitEstablished(router, 2)

	var routes []bgp.Route
	var ironlb, floor []time.Duration
	for i := range *n {
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 32)
		routes = append(routes, bgp.Route{Prefix: pfx})
		c := waitFor("127.0.0.2 " + pfx.String())
		start := time.Now()
		_, err := eng.Apply(ctx, bgp.Desired{Peers: []bgp.Peer{peer}, Routes: routes})
		must(err)
		<-c
		ironlb = append(ironlb, time.Since(start))

		bp := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), 32)
		nlri, _ := bgppkt.NewIPAddrPrefix(bp)
		nh, _ := bgppkt.NewPathAttributeNextHop(netip.MustParseAddr("192.0.2.12"))
		c = waitFor("127.0.0.3 " + bp.String())
		start = time.Now()
		_, err = base.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{{Family: bgppkt.RF_IPv4_UC, Nlri: nlri,
			Attrs: []bgppkt.PathAttributeInterface{bgppkt.NewPathAttributeOrigin(0), nh}}}})
		must(err)
		<-c
		floor = append(floor, time.Since(start))
	}
	p := func(d []time.Duration, q float64) time.Duration {
		s := slices.Clone(d)
		slices.Sort(s)
		return s[int(q*float64(len(s)-1))]
	}
	fmt.Printf("route at the router after Engine.Apply (%d routes, one at a time, RIB growing to %d):\n", *n, *n)
	fmt.Printf("  ironlb engine   p50 %-10v p99 %v\n", p(ironlb, 0.5), p(ironlb, 0.99))
	fmt.Printf("  bare GoBGP      p50 %-10v p99 %v   (baseline: AddPath only)\n", p(floor, 0.5), p(floor, 0.99))
	fmt.Printf("  ratio p99       %.2fx\n", float64(p(ironlb, 0.99))/float64(p(floor, 0.99)))
}

func waitEstablished(s *server.BgpServer, n int) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		up := 0
		_ = s.ListPeer(context.Background(), &api.ListPeerRequest{}, func(p *api.Peer) {
			if p.GetState().GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED {
				up++
			}
		})
		if up == n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatal("sessions did not come up")
}

func freePort(ip string) int {
	ln, err := net.Listen("tcp", ip+":0")
	must(err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/bgp:", err)
		os.Exit(1)
	}
}
