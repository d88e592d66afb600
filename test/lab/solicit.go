package lab

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"

	"github.com/ironlb/ironlb/test/netlab"
)

// Solicit sends ONE ARP request (IPv4) or neighbor solicitation (IPv6) for ip
// from the client's data interface and returns the distinct MACs that
// answered it within wait, sorted. Unlike arping -c 3 (whose answers may span
// a handover), every MAC returned answered the same request: two MACs means
// two nodes announcing at the same moment.
func (l *Lab) Solicit(ip netip.Addr, wait time.Duration) ([]string, error) {
	if ip.Is4() {
		return l.solicitARP(ip, wait)
	}
	return l.solicitNDP(ip, wait)
}

func (l *Lab) solicitARP(ip netip.Addr, wait time.Duration) ([]string, error) {
	var c *arp.Client
	err := InNetNS(l.Net.ClientNS, func() error {
		ifi, err := net.InterfaceByName(netlab.DataIface)
		if err != nil {
			return err
		}
		c, err = arp.Dial(ifi)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("arp socket in %s: %w", l.Net.ClientNS, err)
	}
	defer c.Close()
	// A sender address of our own (192.0.2.190-199) that answers target,
	// so answers to anything else on the segment are ignored.
	tag := netip.AddrFrom4([4]byte{192, 0, 2, byte(190 + rand.IntN(10))})
	req, err := arp.NewPacket(arp.OperationRequest, c.HardwareAddr(), tag, net.HardwareAddr{0, 0, 0, 0, 0, 0}, ip)
	if err != nil {
		return nil, err
	}
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return nil, err
	}
	if err := c.WriteTo(req, ethernet.Broadcast); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for {
		p, _, err := c.Read()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err) {
				break
			}
			return nil, err
		}
		if p.Operation == arp.OperationReply && p.SenderIP == ip && p.TargetIP == tag {
			set[strings.ToLower(p.SenderHardwareAddr.String())] = true
		}
	}
	return sortedSet(set), nil
}

func (l *Lab) solicitNDP(ip netip.Addr, wait time.Duration) ([]string, error) {
	// All of it inside the namespace: sends to a zoned multicast address
	// resolve the zone ("eth0") in the calling thread's namespace.
	var out []string
	err := InNetNS(l.Net.ClientNS, func() error {
		var err error
		out, err = solicitNDPHere(ip, wait)
		return err
	})
	return out, err
}

func solicitNDPHere(ip netip.Addr, wait time.Duration) ([]string, error) {
	ifi, err := net.InterfaceByName(netlab.DataIface)
	if err != nil {
		return nil, err
	}
	c, _, err := ndp.Listen(ifi, ndp.LinkLocal)
	if err != nil {
		return nil, fmt.Errorf("ndp socket: %w", err)
	}
	defer c.Close()
	snm, err := ndp.SolicitedNodeMulticast(ip)
	if err != nil {
		return nil, err
	}
	ns := &ndp.NeighborSolicitation{
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}},
	}
	deadline := time.Now().Add(wait)
	if err := c.SetReadDeadline(deadline); err != nil {
		return nil, err
	}
	if err := c.WriteTo(ns, nil, snm); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for {
		m, _, _, err := c.ReadFrom()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || isTimeout(err) || time.Now().After(deadline) {
				break
			}
			continue // unparseable ICMPv6: ignore
		}
		na, ok := m.(*ndp.NeighborAdvertisement)
		if !ok || na.TargetAddress != ip {
			continue
		}
		for _, o := range na.Options {
			if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
				set[strings.ToLower(lla.Addr.String())] = true
			}
		}
	}
	return sortedSet(set), nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
