package l2

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"sync/atomic"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

const etherTypeARP = 0x0806

// arpResponder owns one AF_PACKET socket bound to EtherType ARP on one
// interface. It does not need an IPv4 address on the interface.
type arpResponder struct {
	a      *Announcer
	ifname string
	mac    net.HardwareAddr
	conn   *packet.Conn
	closed atomic.Bool
}

func newARPResponder(a *Announcer, ifi *net.Interface) (*arpResponder, error) {
	c, err := packet.Listen(ifi, packet.Raw, etherTypeARP, nil)
	if err != nil {
		return nil, err
	}
	r := &arpResponder{a: a, ifname: ifi.Name, mac: append(net.HardwareAddr(nil), ifi.HardwareAddr...), conn: c}
	a.wg.Add(1)
	go r.run()
	return r, nil
}

func (r *arpResponder) owns(ip netip.Addr) bool {
	return r.a.owned.Load().allows(ip, r.ifname) && r.a.answering()
}

func (r *arpResponder) run() {
	defer r.a.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, _, err := r.conn.ReadFrom(buf)
		if err != nil {
			if r.closed.Load() || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			r.a.log.Error(err, "ARP read failed, responder stops until the next rescan", "interface", r.ifname)
			r.a.responderFailed(r.ifname, r, nil)
			return
		}
		v := decideARP(buf[:n], r.mac, r.owns)
		if !v.Counted {
			r.a.log.V(2).Info("ARP frame ignored", "interface", r.ifname, "reason", v.Reason)
			continue
		}
		r.a.counter(v.Target).requests.Add(1)
		if v.Reply == nil {
			r.a.log.V(1).Info("ARP request not answered", "interface", r.ifname, "ip", v.Target, "reason", v.Reason)
			continue
		}
		if !r.a.answering() { // checked again at the last moment
			continue
		}
		if _, err := r.conn.WriteTo(v.Reply, &packet.Addr{HardwareAddr: v.Dst}); err != nil {
			r.a.log.Error(err, "sending ARP reply", "interface", r.ifname, "ip", v.Target)
			continue
		}
		r.a.counter(v.Target).responses.Add(1)
	}
}

func (r *arpResponder) gratuitous(ip netip.Addr) error {
	frames, err := gratuitousARP(r.mac, ip)
	if err != nil {
		return err
	}
	for _, f := range frames {
		if _, err := r.conn.WriteTo(f, &packet.Addr{HardwareAddr: ethBroadcast}); err != nil {
			return err
		}
	}
	return nil
}

func (r *arpResponder) close() { r.closed.Store(true); _ = r.conn.Close() }

// ndpResponder owns one raw ICMPv6 socket bound to the interface's link-local
// address, joined to the solicited-node groups of the owned IPv6 addresses.
//
// Neighbor advertisements are sent with the announced IP itself as IPv6
// source (IPV6_FREEBIND), like the kernel does for its own addresses: some
// receivers (ndisc6, for one) ignore an NA for a global target sent from a
// link-local source. If the kernel refuses the non-local source, the
// responder falls back to the link-local source for good.
type ndpResponder struct {
	a        *Announcer
	ifname   string
	ifi      *net.Interface
	mac      net.HardwareAddr
	ll       netip.Addr
	conn     *net.IPConn
	pc       *ipv6.PacketConn
	closed   atomic.Bool
	freebind atomic.Bool
	groups   map[netip.Addr]struct{} // guarded by a.mu
}

func linkLocalOf(ifi *net.Interface) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, ad := range addrs {
		ipn, ok := ad.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if ok && ip.Is6() && !ip.Is4In6() && ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	return netip.Addr{}, errors.New("no IPv6 link-local address")
}

func newNDPResponder(a *Announcer, ifi *net.Interface) (*ndpResponder, error) {
	ll, err := linkLocalOf(ifi)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenIP("ip6:ipv6-icmp", &net.IPAddr{IP: ll.AsSlice(), Zone: ifi.Name})
	if err != nil {
		return nil, err
	}
	r := &ndpResponder{a: a, ifname: ifi.Name, ifi: ifi, mac: append(net.HardwareAddr(nil), ifi.HardwareAddr...), ll: ll, conn: c, groups: map[netip.Addr]struct{}{}}
	fail := func(err error) (*ndpResponder, error) { c.Close(); return nil, err }
	if rc, err := c.SyscallConn(); err == nil {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_FREEBIND, 1)
		}); err == nil && serr == nil {
			r.freebind.Store(true)
		}
	}
	r.pc = ipv6.NewPacketConn(c)
	if err := r.pc.SetHopLimit(ndp.HopLimit); err != nil {
		return fail(err)
	}
	if err := r.pc.SetMulticastHopLimit(ndp.HopLimit); err != nil {
		return fail(err)
	}
	if err := r.pc.SetMulticastLoopback(false); err != nil {
		return fail(err)
	}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeNeighborSolicitation)
	if err := r.pc.SetICMPFilter(&f); err != nil {
		return fail(err)
	}
	if err := r.pc.SetControlMessage(ipv6.FlagHopLimit, true); err != nil {
		return fail(err)
	}
	a.wg.Add(1)
	go r.run()
	return r, nil
}

func (r *ndpResponder) owns(ip netip.Addr) bool {
	return r.a.owned.Load().allows(ip, r.ifname) && r.a.answering()
}

func (r *ndpResponder) run() {
	defer r.a.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, cm, from, err := r.pc.ReadFrom(buf)
		if err != nil {
			if r.closed.Load() || errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			r.a.log.Error(err, "NDP read failed, responder stops until the next rescan", "interface", r.ifname)
			r.a.responderFailed(r.ifname, nil, r)
			return
		}
		hop := ndp.HopLimit
		if cm != nil {
			hop = cm.HopLimit
		}
		var src netip.Addr
		if ipa, ok := from.(*net.IPAddr); ok {
			src, _ = netip.AddrFromSlice(ipa.IP)
		}
		if src == r.ll {
			continue
		}
		v := decideNDP(buf[:n], src, hop, r.mac, r.owns)
		if !v.Counted {
			r.a.log.V(2).Info("NDP message ignored", "interface", r.ifname, "src", src, "reason", v.Reason)
			continue
		}
		r.a.counter(v.Target).requests.Add(1)
		if v.Reply == nil || !r.a.answering() {
			continue
		}
		if err := r.send(v.Reply, v.Dst); err != nil {
			r.a.log.Error(err, "sending neighbor advertisement", "interface", r.ifname, "ip", v.Target)
			continue
		}
		r.a.counter(v.Target).responses.Add(1)
	}
}

// send writes an NA to dst, sourced from its target address when possible.
func (r *ndpResponder) send(na *ndp.NeighborAdvertisement, dst netip.Addr) error {
	b, err := ndp.MarshalMessage(na)
	if err != nil {
		return err
	}
	to := &net.IPAddr{IP: dst.AsSlice(), Zone: r.ifname}
	if r.freebind.Load() {
		cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: na.TargetAddress.AsSlice(), IfIndex: r.ifi.Index}
		if _, err := r.pc.WriteTo(b, cm, to); err == nil {
			return nil
		} else if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return err
		}
		r.a.log.Info("kernel refused a non-local NA source, using the link-local address", "interface", r.ifname)
		r.freebind.Store(false)
	}
	cm := &ipv6.ControlMessage{HopLimit: ndp.HopLimit, Src: r.ll.AsSlice(), IfIndex: r.ifi.Index}
	_, err = r.pc.WriteTo(b, cm, to)
	return err
}

// setGroups makes the joined solicited-node groups equal to want. Caller
// holds a.mu.
func (r *ndpResponder) setGroups(want map[netip.Addr]struct{}) {
	for g := range r.groups {
		if _, ok := want[g]; !ok {
			if err := r.pc.LeaveGroup(r.ifi, &net.IPAddr{IP: g.AsSlice(), Zone: r.ifname}); err != nil {
				r.a.log.Error(err, "leaving solicited-node group", "interface", r.ifname, "group", g)
			}
			delete(r.groups, g)
		}
	}
	for g := range want {
		if _, ok := r.groups[g]; ok {
			continue
		}
		if err := r.pc.JoinGroup(r.ifi, &net.IPAddr{IP: g.AsSlice(), Zone: r.ifname}); err != nil {
			r.a.log.Error(err, "joining solicited-node group", "interface", r.ifname, "group", g)
			continue
		}
		r.groups[g] = struct{}{}
	}
}

func (r *ndpResponder) gratuitous(ip netip.Addr) error {
	return r.send(unsolicitedNA(r.mac, ip), allNodes)
}

func (r *ndpResponder) close() { r.closed.Store(true); _ = r.pc.Close() }
