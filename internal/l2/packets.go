package l2

import (
	"bytes"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
)

// This file holds the pure packet-decision helpers. They take bytes in and
// return what to send (if anything); they never touch sockets, so they can be
// table-tested and fuzzed.

var (
	ethBroadcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	allNodes     = netip.MustParseAddr("ff02::1")
)

// arpVerdict is the outcome of looking at one received Ethernet frame on an
// ARP socket.
type arpVerdict struct {
	// Counted is true for a well-formed ARP request whose target IP we own
	// on this interface (the metallb_layer2_requests_received counter).
	Counted bool
	// Target is the requested IP (valid only when Counted).
	Target netip.Addr
	// Reply is the complete Ethernet frame to send, nil if we stay silent.
	Reply []byte
	// Dst is the Ethernet destination of Reply.
	Dst net.HardwareAddr
	// Reason explains a silent verdict (for debug logs and tests).
	Reason string
}

// decideARP decides whether to answer an Ethernet frame received on an
// interface whose MAC is ifMAC. owns reports whether we own an IPv4 address on
// this interface.
func decideARP(frame []byte, ifMAC net.HardwareAddr, owns func(netip.Addr) bool) arpVerdict {
	var f ethernet.Frame
	if err := f.UnmarshalBinary(frame); err != nil {
		return arpVerdict{Reason: "bad ethernet frame"}
	}
	if f.EtherType != ethernet.EtherTypeARP {
		return arpVerdict{Reason: "not ARP"}
	}
	if !bytes.Equal(f.Destination, ethBroadcast) && !bytes.Equal(f.Destination, ifMAC) {
		return arpVerdict{Reason: "ethernet destination is neither broadcast nor us"}
	}
	if bytes.Equal(f.Source, ifMAC) {
		return arpVerdict{Reason: "sent by us"}
	}
	p, reason := parseARP(f.Payload)
	if p == nil {
		return arpVerdict{Reason: reason}
	}
	if p.Operation != arp.OperationRequest {
		return arpVerdict{Reason: "not a request"}
	}
	if bytes.Equal(p.SenderHardwareAddr, ifMAC) {
		return arpVerdict{Reason: "sent by us"}
	}
	if p.SenderIP == p.TargetIP && !p.SenderIP.IsUnspecified() {
		return arpVerdict{Reason: "gratuitous announcement"}
	}
	if !owns(p.TargetIP) {
		return arpVerdict{Reason: "target not owned"}
	}
	v := arpVerdict{Counted: true, Target: p.TargetIP}
	dst := p.SenderHardwareAddr
	if !usableUnicastMAC(dst) {
		dst = f.Source
	}
	if !usableUnicastMAC(dst) {
		v.Reason = "no usable reply destination"
		return v
	}
	reply, err := arp.NewPacket(arp.OperationReply, ifMAC, p.TargetIP, p.SenderHardwareAddr, p.SenderIP)
	if err != nil {
		v.Reason = "building reply: " + err.Error()
		return v
	}
	b, err := arpFrame(reply, ifMAC, dst)
	if err != nil {
		v.Reason = "marshalling reply: " + err.Error()
		return v
	}
	v.Reply, v.Dst = b, dst
	return v
}

// parseARP validates and parses an Ethernet/IPv4 ARP payload.
func parseARP(b []byte) (*arp.Packet, string) {
	// Fixed Ethernet/IPv4 ARP is 28 bytes; check the header before handing
	// it to the library so lengths are sane.
	if len(b) < 28 {
		return nil, "short ARP packet"
	}
	if b[0] != 0 || b[1] != 1 { // hardware type Ethernet
		return nil, "ARP hardware type is not Ethernet"
	}
	if b[2] != 0x08 || b[3] != 0x00 {
		return nil, "ARP protocol type is not IPv4"
	}
	if b[4] != 6 || b[5] != 4 {
		return nil, "ARP address lengths are not 6/4"
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(b); err != nil {
		return nil, "bad ARP packet"
	}
	if !p.TargetIP.Is4() || !p.SenderIP.Is4() {
		return nil, "ARP addresses are not IPv4"
	}
	return &p, ""
}

func usableUnicastMAC(m net.HardwareAddr) bool {
	if len(m) != 6 {
		return false
	}
	if m[0]&1 == 1 { // group bit: multicast or broadcast
		return false
	}
	var zero [6]byte
	return !bytes.Equal(m, zero[:])
}

func arpFrame(p *arp.Packet, src, dst net.HardwareAddr) ([]byte, error) {
	pb, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	f := ethernet.Frame{Destination: dst, Source: src, EtherType: ethernet.EtherTypeARP, Payload: pb}
	return f.MarshalBinary()
}

// gratuitousARP returns the two broadcast frames of a gratuitous
// announcement of ip from mac: an ARP request and an ARP reply, both with
// sender IP = target IP = ip (what MetalLB sends).
func gratuitousARP(mac net.HardwareAddr, ip netip.Addr) ([][]byte, error) {
	var out [][]byte
	for _, op := range []arp.Operation{arp.OperationRequest, arp.OperationReply} {
		p, err := arp.NewPacket(op, mac, ip, ethBroadcast, ip)
		if err != nil {
			return nil, err
		}
		b, err := arpFrame(p, mac, ethBroadcast)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// ndpVerdict is the outcome of looking at one received ICMPv6 message.
type ndpVerdict struct {
	Counted bool
	Target  netip.Addr
	Reply   *ndp.NeighborAdvertisement
	Dst     netip.Addr
	Reason  string
}

// decideNDP decides whether to answer an ICMPv6 message (msg starts at the
// ICMPv6 header) received from src with the given IPv6 hop limit (use 255 if
// unknown) on an interface whose MAC is ifMAC.
func decideNDP(msg []byte, src netip.Addr, hopLimit int, ifMAC net.HardwareAddr, owns func(netip.Addr) bool) ndpVerdict {
	if hopLimit != ndp.HopLimit {
		return ndpVerdict{Reason: "hop limit is not 255"}
	}
	if len(msg) < 24 || msg[0] != 135 || msg[1] != 0 { // NS, code 0
		return ndpVerdict{Reason: "not a neighbor solicitation"}
	}
	m, err := ndp.ParseMessage(msg)
	if err != nil {
		return ndpVerdict{Reason: "bad NDP message"}
	}
	ns, ok := m.(*ndp.NeighborSolicitation)
	if !ok {
		return ndpVerdict{Reason: "not a neighbor solicitation"}
	}
	t := ns.TargetAddress.WithZone("")
	if !t.Is6() || t.Is4In6() || t.IsMulticast() || t.IsUnspecified() {
		return ndpVerdict{Reason: "bad target"}
	}
	src = src.WithZone("")
	var srcLLA net.HardwareAddr
	for _, o := range ns.Options {
		if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Source {
			srcLLA = lla.Addr
		}
	}
	if bytes.Equal(srcLLA, ifMAC) {
		return ndpVerdict{Reason: "sent by us"}
	}
	if src.IsValid() && !src.Is6() {
		return ndpVerdict{Reason: "source is not IPv6"}
	}
	if src.IsMulticast() {
		return ndpVerdict{Reason: "multicast source"}
	}
	dad := !src.IsValid() || src.IsUnspecified()
	if dad && srcLLA != nil {
		return ndpVerdict{Reason: "DAD probe with source link-layer option"}
	}
	if !owns(t) {
		return ndpVerdict{Reason: "target not owned"}
	}
	v := ndpVerdict{Counted: true, Target: t}
	na := &ndp.NeighborAdvertisement{
		Solicited:     !dad,
		Override:      true,
		TargetAddress: t,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: ifMAC}},
	}
	if dad {
		// RFC 4861 7.2.4: answer a DAD probe to all-nodes, unsolicited.
		v.Dst = allNodes
	} else {
		v.Dst = src
	}
	v.Reply = na
	return v
}

// unsolicitedNA is the gratuitous announcement of ip: override set, sent to
// ff02::1 by the caller.
func unsolicitedNA(mac net.HardwareAddr, ip netip.Addr) *ndp.NeighborAdvertisement {
	return &ndp.NeighborAdvertisement{
		Override:      true,
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}
}
