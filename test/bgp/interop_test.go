package bgp_test

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/test/bgplab"
)

var allKinds = []string{bgplab.FRR, bgplab.BIRD, bgplab.GoBGP}

// interop runs the core checks at every router of the bed: IPv4 and IPv6
// routes from both nodes with their communities, a peer removed and
// re-added without resetting any other session, then withdrawal.
func interop(t *testing.T, o bedOpts) {
	b := newBed(t, o)
	v4 := netip.MustParsePrefix("198.18.0.20/32")
	v6 := netip.MustParsePrefix("2001:db8:5::20/128")
	attrs := bgp.Attrs{Communities: []uint32{65000<<16 | 100}, LargeCommunities: []bgp.LargeCommunity{{ASN: 64512, Data1: 1, Data2: 2}}}
	peers := b.peers(o)
	routes := []bgp.Route{{Prefix: v4, Attrs: attrs}, {Prefix: v6, Attrs: attrs}}
	b.applyAll(t, bgp.Desired{Peers: peers, Routes: routes})
	for _, k := range o.kinds {
		r := b.routers[k]
		waitNextHops(t, r, v4, nodeAddrs(b.lab, false, 1, 2))
		waitNextHops(t, r, v6, nodeAddrs(b.lab, true, 1, 2))
		for _, pfx := range []netip.Prefix{v4, v6} {
			ps, err := r.Paths(pfx)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if !slices.Equal(p.Communities, []string{"65000:100"}) || !slices.Equal(p.LargeCommunities, []string{"64512:1:2"}) {
					t.Errorf("%s %s via %s: communities %v large %v, want [65000:100] [64512:1:2]", k, pfx, p.NextHop, p.Communities, p.LargeCommunities)
				}
			}
		}
	}
	before := b.sessionUps(t, o)

	// Remove one peer (FRR's IPv4 session, or the first router's) on node
	// 1: only that route disappears, no other session resets.
	gone := peers[0]
	b.applyNode(t, 0, bgp.Desired{Peers: peers[1:], Routes: routes})
	first := b.routers[o.kinds[0]]
	waitNextHops(t, first, v4, nodeAddrs(b.lab, false, 2))
	b.applyNode(t, 0, bgp.Desired{Peers: peers, Routes: routes})
	waitNextHops(t, first, v4, nodeAddrs(b.lab, false, 1, 2))
	after := b.sessionUps(t, o)
	for key, n := range before {
		if key == fmt.Sprintf("%s/%s", o.kinds[0], b.lab.Node(1).IPv4) {
			continue // the removed session itself
		}
		if after[key] != n {
			t.Errorf("session %s came up %d times, was %d: removing peer %s reset it", key, after[key], n, gone.Address)
		}
	}

	b.applyAll(t, bgp.Desired{Peers: peers})
	for _, k := range o.kinds {
		waitNextHops(t, b.routers[k], v4, nil)
		waitNextHops(t, b.routers[k], v6, nil)
	}
}

// sessionUps waits for every session at every router to be established
// and returns how often each came up ("kind/node address").
func (b *bed) sessionUps(t *testing.T, o bedOpts) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, k := range o.kinds {
		r := b.routers[k]
		var all []netip.Addr
		for _, n := range b.lab.Nodes {
			all = append(all, n.IPv4, n.IPv6)
		}
		waitEstablished(t, r, all)
		s, err := r.Sessions()
		if err != nil {
			t.Fatal(err)
		}
		for a, st := range s {
			out[fmt.Sprintf("%s/%s", k, a)] = st.Ups
		}
	}
	return out
}

func (b *bed) applyNode(t *testing.T, i int, d bgp.Desired) {
	t.Helper()
	refused, err := b.speakers[i].Apply(d)
	if err != nil || len(refused) > 0 {
		t.Fatalf("node %d apply: %v %v", i+1, err, refused)
	}
}

func TestInterop(t *testing.T) {
	interop(t, bedOpts{kinds: allKinds})
}

func TestInteropMD5(t *testing.T) {
	interop(t, bedOpts{kinds: allKinds, password: "s3cret-md5"})
}

// A crashed speaker (SIGKILL, no Cease) is withdrawn by the router when its
// hold time expires; a stopped one at once.
func TestSpeakerGoneWithdrawn(t *testing.T) {
	o := bedOpts{kinds: []string{bgplab.FRR}}
	b := newBed(t, o)
	v4 := netip.MustParsePrefix("198.18.0.30/32")
	b.applyAll(t, bgp.Desired{Peers: b.peers(o), Routes: []bgp.Route{{Prefix: v4}}})
	r := b.routers[bgplab.FRR]
	waitNextHops(t, r, v4, nodeAddrs(b.lab, false, 1, 2))
	if err := b.speakers[0].Stop(); err != nil {
		t.Logf("stop: %v", err)
	}
	waitNextHops(t, r, v4, nodeAddrs(b.lab, false, 2))
	if err := b.speakers[1].Kill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitNextHops(t, r, v4, nil) // hold time 9 s
	t.Logf("killed speaker withdrawn after %s (hold time 9s)", time.Since(start).Round(time.Millisecond))
}
