package bgp_test

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/test/bgplab"
)

// With graceful restart, a speaker crash and restart (an upgrade) keeps the
// node's path at the router all along, and the client behind the router
// loses no request.
func TestGracefulRestartKeepsRoutes(t *testing.T) {
	o := bedOpts{kinds: []string{bgplab.FRR}, kernel: true, gr: true}
	b := newBed(t, o)
	r := b.routers[bgplab.FRR]
	client, err := bgplab.AddClientBehind(b.lab, r)
	if err != nil {
		t.Fatal(err)
	}
	v4 := netip.MustParsePrefix("198.18.0.60/32")
	for _, n := range b.lab.Nodes {
		if err := b.lab.IP(n.NS, "addr", "add", v4.String(), "dev", "lo"); err != nil {
			t.Fatal(err)
		}
	}
	d := bgp.Desired{Peers: b.peers(o), Routes: []bgp.Route{{Prefix: v4}}}
	b.applyAll(t, d)
	both := nodeAddrs(b.lab, false, 1, 2)
	waitNextHops(t, r, v4, both)
	before := b.sessionUps(t, o)

	var stop atomic.Bool
	var wg sync.WaitGroup
	var requests, failures atomic.Int64
	var lostPath atomic.Value
	wg.Add(2)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			requests.Add(1)
			if _, err := b.lab.Run(client, "curl", "-sS", "--max-time", "5", fmt.Sprintf("http://%s:8080/", v4.Addr())); err != nil {
				failures.Add(1)
				t.Logf("request failed: %v", err)
			}
		}
	}()
	go func() {
		defer wg.Done()
		for !stop.Load() {
			nh, err := r.NextHops(v4)
			if err == nil && !slices.Equal(nh, both) {
				lostPath.Store(fmt.Sprint(nh))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(time.Second) // let some requests through before the crash
	if err := b.speakers[0].Kill(); err != nil {
		t.Fatal(err)
	}
	s, err := bgplab.StartSpeaker(b.lab, b.lab.Node(1).NS, b.lab.Node(1).IPv4)
	if err != nil {
		t.Fatal(err)
	}
	b.speakers[0] = s
	b.applyNode(t, 0, d)
	n1 := b.lab.Node(1).IPv4
	eventually(t, 60*time.Second, "node 1 session back", func() string {
		ss, err := r.Sessions()
		if err != nil {
			return err.Error()
		}
		if ss[n1].Ups <= before[fmt.Sprintf("frr/%s", n1)] || !ss[n1].Established {
			return fmt.Sprintf("%+v", ss[n1])
		}
		return ""
	})
	// Let the restarted session's routes and End-of-RIB settle.
	eventually(t, 60*time.Second, "node 1 path not stale", func() string {
		out, err := b.lab.Run(r.NS, "vtysh", "--vty_socket", r.Dir, "-c", "show bgp ipv4 unicast "+v4.String())
		if err != nil {
			return err.Error()
		}
		if strings.Contains(out, "STALE") || strings.Contains(out, "stale") {
			return "stale"
		}
		return ""
	})
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()
	if v := lostPath.Load(); v != nil {
		t.Errorf("router lost a path during the restart: saw next hops %v", v)
	}
	if failures.Load() != 0 {
		t.Errorf("%d of %d requests failed during the restart", failures.Load(), requests.Load())
	}
	t.Logf("%d requests, %d failed, across a speaker crash and restart", requests.Load(), failures.Load())
	waitNextHops(t, r, v4, both)
}
