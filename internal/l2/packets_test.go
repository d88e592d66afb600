package l2

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

var (
	ourMAC    = net.HardwareAddr{0x02, 0, 0, 0, 1, 1}
	clientMAC = net.HardwareAddr{0x02, 0, 0, 0, 1, 0x64}
	vip4      = netip.MustParseAddr("192.0.2.200")
	vip6      = netip.MustParseAddr("2001:db8::200")
	client4   = netip.MustParseAddr("192.0.2.100")
	client6   = netip.MustParseAddr("2001:db8::100")
)

func ownsOnly(ips ...netip.Addr) func(netip.Addr) bool {
	return func(ip netip.Addr) bool {
		for _, o := range ips {
			if o == ip {
				return true
			}
		}
		return false
	}
}

func arpReq(t testing.TB, op arp.Operation, sha net.HardwareAddr, spa netip.Addr, tpa netip.Addr, ethDst net.HardwareAddr) []byte {
	t.Helper()
	p, err := arp.NewPacket(op, sha, spa, ethernet.Broadcast, tpa)
	if err != nil {
		t.Fatal(err)
	}
	b, err := arpFrame(p, sha, ethDst)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecideARP(t *testing.T) {
	owns := ownsOnly(vip4)
	other := net.HardwareAddr{0x02, 9, 9, 9, 9, 9}
	cases := []struct {
		name      string
		frame     []byte
		counted   bool
		wantReply bool
	}{
		{"broadcast request for owned IP", arpReq(t, arp.OperationRequest, clientMAC, client4, vip4, ethernet.Broadcast), true, true},
		{"unicast request to our MAC", arpReq(t, arp.OperationRequest, clientMAC, client4, vip4, ourMAC), true, true},
		{"unicast request to another MAC", arpReq(t, arp.OperationRequest, clientMAC, client4, vip4, other), false, false},
		{"request for IP not owned", arpReq(t, arp.OperationRequest, clientMAC, client4, netip.MustParseAddr("192.0.2.201"), ethernet.Broadcast), false, false},
		{"reply is ignored", arpReq(t, arp.OperationReply, clientMAC, client4, vip4, ethernet.Broadcast), false, false},
		{"our own frame", arpReq(t, arp.OperationRequest, ourMAC, vip4, vip4, ethernet.Broadcast), false, false},
		{"gratuitous from someone else", arpReq(t, arp.OperationRequest, clientMAC, vip4, vip4, ethernet.Broadcast), false, false},
		{"DAD probe (sender 0.0.0.0)", arpReq(t, arp.OperationRequest, clientMAC, netip.MustParseAddr("0.0.0.0"), vip4, ethernet.Broadcast), true, true},
		{"garbage", []byte{1, 2, 3}, false, false},
		{"empty", nil, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := decideARP(c.frame, ourMAC, owns)
			if v.Counted != c.counted || (v.Reply != nil) != c.wantReply {
				t.Fatalf("got counted=%v reply=%v (%s), want counted=%v reply=%v", v.Counted, v.Reply != nil, v.Reason, c.counted, c.wantReply)
			}
			if !c.wantReply {
				return
			}
			var f ethernet.Frame
			if err := f.UnmarshalBinary(v.Reply); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(f.Destination, clientMAC) || !bytes.Equal(f.Source, ourMAC) || !bytes.Equal(v.Dst, clientMAC) {
				t.Fatalf("bad ethernet header: %v -> %v", f.Source, f.Destination)
			}
			var p arp.Packet
			if err := p.UnmarshalBinary(f.Payload); err != nil {
				t.Fatal(err)
			}
			if p.Operation != arp.OperationReply || !bytes.Equal(p.SenderHardwareAddr, ourMAC) || p.SenderIP != vip4 || !bytes.Equal(p.TargetHardwareAddr, clientMAC) {
				t.Fatalf("bad reply %+v", p)
			}
		})
	}
}

func TestGratuitousARP(t *testing.T) {
	frames, err := gratuitousARP(ourMAC, vip4)
	if err != nil || len(frames) != 2 {
		t.Fatalf("%v %d", err, len(frames))
	}
	for i, want := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
		var f ethernet.Frame
		if err := f.UnmarshalBinary(frames[i]); err != nil {
			t.Fatal(err)
		}
		var p arp.Packet
		if err := p.UnmarshalBinary(f.Payload); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Destination, ethernet.Broadcast) || p.Operation != want || p.SenderIP != vip4 || p.TargetIP != vip4 || !bytes.Equal(p.SenderHardwareAddr, ourMAC) {
			t.Fatalf("frame %d: %+v", i, p)
		}
		// A gratuitous frame we receive back must never trigger a reply.
		if v := decideARP(frames[i], ourMAC, ownsOnly(vip4)); v.Reply != nil || v.Counted {
			t.Fatalf("own gratuitous frame %d answered", i)
		}
	}
}

func nsBytes(t testing.TB, target netip.Addr, slla net.HardwareAddr) []byte {
	t.Helper()
	m := &ndp.NeighborSolicitation{TargetAddress: target}
	if slla != nil {
		m.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: slla}}
	}
	b, err := ndp.MarshalMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecideNDP(t *testing.T) {
	owns := ownsOnly(vip6)
	na, _ := ndp.MarshalMessage(unsolicitedNA(clientMAC, vip6))
	cases := []struct {
		name      string
		msg       []byte
		src       netip.Addr
		hop       int
		counted   bool
		wantDst   netip.Addr
		solicited bool
	}{
		{"NS for owned IP", nsBytes(t, vip6, clientMAC), client6, 255, true, client6, true},
		{"NS from link-local with zone", nsBytes(t, vip6, clientMAC), netip.MustParseAddr("fe80::1%eth0"), 255, true, netip.MustParseAddr("fe80::1"), true},
		{"NS without SLLA (unicast NUD)", nsBytes(t, vip6, nil), client6, 255, true, client6, true},
		{"DAD probe", nsBytes(t, vip6, nil), netip.IPv6Unspecified(), 255, true, allNodes, false},
		{"DAD probe with SLLA is invalid", nsBytes(t, vip6, clientMAC), netip.IPv6Unspecified(), 255, false, netip.Addr{}, false},
		{"NS not owned", nsBytes(t, netip.MustParseAddr("2001:db8::201"), clientMAC), client6, 255, false, netip.Addr{}, false},
		{"hop limit 64", nsBytes(t, vip6, clientMAC), client6, 64, false, netip.Addr{}, false},
		{"NS from ourselves", nsBytes(t, vip6, ourMAC), client6, 255, false, netip.Addr{}, false},
		{"NA ignored", na, client6, 255, false, netip.Addr{}, false},
		{"garbage", []byte{135, 0, 0, 0, 1}, client6, 255, false, netip.Addr{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := decideNDP(c.msg, c.src, c.hop, ourMAC, owns)
			if v.Counted != c.counted {
				t.Fatalf("counted=%v (%s), want %v", v.Counted, v.Reason, c.counted)
			}
			if !c.counted {
				if v.Reply != nil {
					t.Fatal("reply without count")
				}
				return
			}
			if v.Reply == nil || v.Dst != c.wantDst {
				t.Fatalf("reply=%v dst=%v want dst %v", v.Reply, v.Dst, c.wantDst)
			}
			r := v.Reply
			if !r.Override || r.Solicited != c.solicited || r.TargetAddress != vip6 || r.Router {
				t.Fatalf("bad NA %+v", r)
			}
			if len(r.Options) != 1 {
				t.Fatalf("options %v", r.Options)
			}
			lla, ok := r.Options[0].(*ndp.LinkLayerAddress)
			if !ok || lla.Direction != ndp.Target || !bytes.Equal(lla.Addr, ourMAC) {
				t.Fatalf("bad TLLA %+v", r.Options[0])
			}
			if _, err := ndp.MarshalMessage(r); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestExcluder(t *testing.T) {
	ex, err := NewExcluder(DefaultExcludedInterfaces)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"eth0": false, "ens3": false, "bond0": false, "br0": false, "lo": true, "lo0": false, "looks": false,
		"docker0": true, "cbr0": true, "dummy0": true, "virbr0": true, "lxcbr0": true, "veth1234": true,
		"cali123": true, "tunl0": true, "flannel.1": true, "kube-ipvs0": true, "cni0": true,
		"nodelocaldns": true, "lxc12": true, "myveth": false,
	} {
		if got := ex.Excluded(name); got != want {
			t.Errorf("Excluded(%q) = %v, want %v", name, got, want)
		}
	}
	if _, err := NewExcluder([]string{"("}); err == nil {
		t.Error("bad regexp accepted")
	}
	none, _ := NewExcluder(nil)
	if none.Excluded("lo") {
		t.Error("empty list excludes")
	}
	var nilEx *Excluder
	if nilEx.Excluded("x") {
		t.Error("nil excluder excludes")
	}
}

func TestEligible(t *testing.T) {
	ex, _ := NewExcluder(DefaultExcludedInterfaces)
	good := linkInfo{Name: "eth0", AdminUp: true, Broadcast: true, MAC: ourMAC, LinkLocal: true}
	mod := func(f func(*linkInfo)) linkInfo { l := good; f(&l); return l }
	cases := []struct {
		name string
		l    linkInfo
		want bool
	}{
		{"good", good, true},
		{"down", mod(func(l *linkInfo) { l.AdminUp = false }), false},
		{"no carrier", mod(func(l *linkInfo) { l.OperDown = true }), false},
		{"enslaved", mod(func(l *linkInfo) { l.HasMaster = true }), false},
		{"noarp", mod(func(l *linkInfo) { l.NoARP = true }), false},
		{"loopback", mod(func(l *linkInfo) { l.Loopback = true }), false},
		{"excluded name", mod(func(l *linkInfo) { l.Name = "docker0" }), false},
		{"ipv6 only (no broadcast)", mod(func(l *linkInfo) { l.Broadcast = false }), true},
		{"ipv4 only (no link-local)", mod(func(l *linkInfo) { l.LinkLocal = false }), true},
		{"no MAC", mod(func(l *linkInfo) { l.MAC = nil }), false},
	}
	for _, c := range cases {
		if got, why := eligible(c.l, ex); got != c.want {
			t.Errorf("%s: eligible=%v (%s), want %v", c.name, got, why, c.want)
		}
	}
}

func TestOwnedSet(t *testing.T) {
	a, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.SetIPs(map[netip.Addr][]string{
		vip4: nil,
		vip6: {"eth1"},
		netip.MustParseAddr("::ffff:192.0.2.201"): {"eth0"},
		{}:                                   nil, // invalid: ignored
		netip.MustParseAddr("ff02::1"):       nil, // multicast: ignored
		netip.MustParseAddr("2001:db8::202"): {""},
	})
	o := a.owned.Load()
	checks := []struct {
		ip    string
		iface string
		want  bool
	}{
		{"192.0.2.200", "eth0", true},
		{"192.0.2.200", "anything", true},
		{"2001:db8::200", "eth1", true},
		{"2001:db8::200", "eth0", false},
		{"192.0.2.201", "eth0", true},
		{"192.0.2.201", "eth1", false},
		{"2001:db8::202", "eth9", true},
		{"ff02::1", "eth0", false},
		{"192.0.2.1", "eth0", false},
	}
	for _, c := range checks {
		if got := o.allows(netip.MustParseAddr(c.ip), c.iface); got != c.want {
			t.Errorf("allows(%s, %s) = %v, want %v", c.ip, c.iface, got, c.want)
		}
	}
	if len(o.m) != 4 {
		t.Errorf("owned %v", o.m)
	}
	a.SetIPs(nil)
	if a.owned.Load().allows(vip4, "eth0") {
		t.Error("SetIPs(nil) kept ownership")
	}
	var nilSet *ownedSet
	if nilSet.allows(vip4, "eth0") {
		t.Error("nil set owns")
	}
}

func FuzzARPDecision(f *testing.F) {
	req := arpReq(f, arp.OperationRequest, clientMAC, client4, vip4, ethernet.Broadcast)
	f.Add(req)
	f.Add(arpReq(f, arp.OperationReply, clientMAC, client4, vip4, ourMAC))
	f.Add(req[:20])
	f.Add([]byte{})
	owns := ownsOnly(vip4)
	f.Fuzz(func(t *testing.T, b []byte) {
		v := decideARP(b, ourMAC, owns)
		if v.Reply != nil {
			if !v.Counted || v.Target != vip4 || len(v.Dst) != 6 {
				t.Fatalf("inconsistent verdict %+v", v)
			}
			var fr ethernet.Frame
			if err := fr.UnmarshalBinary(v.Reply); err != nil {
				t.Fatalf("reply does not parse: %v", err)
			}
		}
	})
}

func FuzzNDPDecision(f *testing.F) {
	f.Add(nsBytes(f, vip6, clientMAC), client6.AsSlice(), uint8(255))
	f.Add(nsBytes(f, vip6, nil), netip.IPv6Unspecified().AsSlice(), uint8(255))
	f.Add([]byte{135, 0, 0, 0}, []byte{1, 2, 3, 4}, uint8(255))
	f.Add([]byte{}, []byte{}, uint8(0))
	owns := ownsOnly(vip6)
	f.Fuzz(func(t *testing.T, msg, src []byte, hop uint8) {
		s, _ := netip.AddrFromSlice(src)
		v := decideNDP(msg, s, int(hop), ourMAC, owns)
		if v.Reply != nil {
			if !v.Counted || v.Target != vip6 || !v.Dst.IsValid() {
				t.Fatalf("inconsistent verdict %+v", v)
			}
			if _, err := ndp.MarshalMessage(v.Reply); err != nil {
				t.Fatalf("reply does not marshal: %v", err)
			}
		}
	})
}
