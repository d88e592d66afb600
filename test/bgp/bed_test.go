package bgp_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/test/bgplab"
	"github.com/ironlb/ironlb/test/netlab"
)

const (
	nodeASN  = 64512
	frrASN   = 64500
	birdASN  = 64501
	gobgpASN = 64502
)

var (
	frrV4   = netip.MustParseAddr("192.0.2.1")
	frrV6   = netip.MustParseAddr("2001:db8::1")
	birdV4  = netip.MustParseAddr("192.0.2.2")
	birdV6  = netip.MustParseAddr("2001:db8::2")
	gobgpV4 = netip.MustParseAddr("192.0.2.3")
	gobgpV6 = netip.MustParseAddr("2001:db8::3")
)

type bed struct {
	lab      *netlab.Lab
	speakers []*bgplab.Speaker
	routers  map[string]*bgplab.Router
}

type bedOpts struct {
	nodes    int
	kinds    []string
	password string
	bfd      bool
	gr       bool
	kernel   bool // FRR installs routes (traffic tests)
}

func skipOrFail(t *testing.T) {
	t.Helper()
	if err := netlab.Available(); err != nil {
		if os.Getenv("IRONLB_REQUIRE_NETNS") == "1" {
			t.Fatalf("IRONLB_REQUIRE_NETNS=1 but: %v", err)
		}
		t.Skip(err.Error())
	}
}

func newBed(t *testing.T, o bedOpts) *bed {
	t.Helper()
	skipOrFail(t)
	if o.nodes == 0 {
		o.nodes = 2
	}
	l := netlab.NewT(t, netlab.Options{Nodes: o.nodes, IPv6: true})
	b := &bed{lab: l, routers: map[string]*bgplab.Router{}}
	dir := routerDir(t)
	for _, k := range o.kinds {
		spec := bgplab.RouterSpec{Kind: k, Name: "r" + k[:1]}
		switch k {
		case bgplab.FRR:
			spec.ASN, spec.IPv4, spec.IPv6, spec.Kernel = frrASN, frrV4, frrV6, o.kernel
		case bgplab.BIRD:
			spec.ASN, spec.IPv4, spec.IPv6 = birdASN, birdV4, birdV6
		case bgplab.GoBGP:
			spec.ASN, spec.IPv4, spec.IPv6 = gobgpASN, gobgpV4, gobgpV6
		}
		for _, n := range l.Nodes {
			for _, a := range []netip.Addr{n.IPv4, n.IPv6} {
				spec.Neighbors = append(spec.Neighbors, bgplab.Neighbor{Addr: a, ASN: nodeASN, Password: o.password, BFD: o.bfd, GR: o.gr})
			}
		}
		r, err := bgplab.StartRouter(l, dir, spec)
		if err != nil {
			t.Fatal(err)
		}
		b.routers[k] = r
	}
	for _, n := range l.Nodes {
		if err := bgplab.StartEcho(l, n.NS, fmt.Sprintf("node-%d", n.Index)); err != nil {
			t.Fatal(err)
		}
		s, err := bgplab.StartSpeaker(l, n.NS, n.IPv4)
		if err != nil {
			t.Fatal(err)
		}
		b.speakers = append(b.speakers, s)
	}
	return b
}

// peers is the desired peer list for one node: every router, both families.
func (b *bed) peers(o bedOpts) []bgp.Peer {
	var ps []bgp.Peer
	for _, k := range o.kinds {
		r := b.routers[k]
		for _, a := range []netip.Addr{r.IPv4, r.IPv6} {
			p := bgp.Peer{Name: k + "-" + a.String(), Address: a, MyASN: nodeASN, PeerASN: r.ASN, Password: o.password,
				HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectTime: time.Second, GracefulRestart: o.gr}
			if o.bfd {
				iv := bgplab.BFDIntervalMS * time.Millisecond
				p.BFD = &bgp.BFD{ReceiveInterval: iv, TransmitInterval: iv, DetectMultiplier: bgplab.BFDMultiplier}
			}
			ps = append(ps, p)
		}
	}
	return ps
}

func (b *bed) applyAll(t *testing.T, d bgp.Desired) {
	t.Helper()
	for i, s := range b.speakers {
		refused, err := s.Apply(d)
		if err != nil || len(refused) > 0 {
			t.Fatalf("node %d apply: %v %v", i+1, err, refused)
		}
	}
}

// eventually polls cond (returning a description of what is still wrong)
// until it returns "" or a generous deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	last := ""
	for {
		if last = cond(); last == "" {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: still %s after %s", what, last, d)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func nodeAddrs(l *netlab.Lab, v6 bool, idx ...int) []netip.Addr {
	var out []netip.Addr
	for _, i := range idx {
		n := l.Node(i)
		if v6 {
			out = append(out, n.IPv6)
		} else {
			out = append(out, n.IPv4)
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// waitNextHops waits until router r has exactly want as next hops for pfx.
func waitNextHops(t *testing.T, r *bgplab.Router, pfx netip.Prefix, want []netip.Addr) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("%s next hops for %s", r.Kind, pfx), func() string {
		got, err := r.NextHops(pfx)
		if err != nil {
			return err.Error()
		}
		if !slices.Equal(got, want) {
			return fmt.Sprintf("%v, want %v", got, want)
		}
		return ""
	})
}

func waitEstablished(t *testing.T, r *bgplab.Router, addrs []netip.Addr) {
	t.Helper()
	eventually(t, 60*time.Second, r.Kind+" sessions", func() string {
		s, err := r.Sessions()
		if err != nil {
			return err.Error()
		}
		for _, a := range addrs {
			if !s[a].Established {
				return fmt.Sprintf("%s not established (%v)", a, s)
			}
		}
		return ""
	})
}

// routerDir is a directory for router configs and sockets. Not t.TempDir():
// FRR drops to user "frr", which must reach it.
func routerDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ilb-bgplab-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(dir, 0o755)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("router files kept in %s", dir)
			return
		}
		_ = os.RemoveAll(dir)
	})
	return dir
}
