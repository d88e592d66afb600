package speaker

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/internal/config"
)

// BGP decision: pure, one node's view. Unlike layer 2 there is no election:
// every eligible node advertises (the router spreads traffic by ECMP), so
// the decision needs no liveness, only this node, the configuration and
// the Services.

// BGPInput is what the BGP decision for one node depends on.
type BGPInput struct {
	Self            *Node // nil: this speaker's Node object is missing
	DefaultRouterID netip.Addr
	Config          *config.BGPConfig
	Pools           config.Pools
	Services        []Service
	IgnoreExcludeLB bool
}

// BGPServiceResult is one Service as this node advertises it.
type BGPServiceResult struct {
	Namespace, Name string
	// Peers are the BGPPeer names that carry at least one of the Service's
	// prefixes from this node (ServiceBGPStatus.status.peers); empty when
	// the node does not advertise it, with Reason saying why.
	Peers  []string
	Reason string
}

// BGPDecision is the desired BGP state of one node.
type BGPDecision struct {
	RouterID netip.Addr
	Desired  bgp.Desired
	// PeerNames maps engine peer keys (addresses) back to BGPPeer names.
	PeerNames map[string]string
	Services  []BGPServiceResult // sorted by namespace/name
	// Problems found only at this node (e.g. two selected peers asking for
	// different router IDs), for ConfigurationState and events.
	Problems []string
}

// DecideBGP computes the node's peers and routes.
func DecideBGP(in BGPInput) BGPDecision {
	d := BGPDecision{RouterID: in.DefaultRouterID, PeerNames: map[string]string{}}
	if in.Config == nil {
		return d
	}
	var peers []config.BGPPeer
	if in.Self != nil {
		peers = in.Config.PeersFor(in.Self.Labels)
	}
	keyOf := map[string]string{}
	var routerIDFrom string
	for _, p := range peers {
		if p.RouterID.IsValid() {
			switch {
			case routerIDFrom == "":
				d.RouterID, routerIDFrom = p.RouterID, p.Name
			case p.RouterID != d.RouterID:
				d.Problems = append(d.Problems, fmt.Sprintf("BGPPeer %q: spec.routerID %s differs from %s set by BGPPeer %q for the same node; one router ID per node: %s is used", p.Name, p.RouterID, d.RouterID, routerIDFrom, d.RouterID))
			}
		}
		ep := EnginePeer(p)
		keyOf[p.Name] = ep.Key()
		d.PeerNames[ep.Key()] = p.Name
		d.Desired.Peers = append(d.Desired.Peers, ep)
	}
	nodeReason := ""
	switch {
	case in.Self == nil:
		nodeReason = ReasonNodeNotFound
	default:
		nodeReason = nodeUnusable(in.Self, in.IgnoreExcludeLB)
	}
	for i := range in.Services {
		svc := &in.Services[i]
		r := BGPServiceResult{Namespace: svc.Namespace, Name: svc.Name}
		r.Reason = bgpServiceReason(in, svc, nodeReason)
		if r.Reason == "" {
			pool := in.Pools.Of(svc.IPs...)
			carried := map[string]bool{}
			matched := false
			for _, ip := range svc.IPs {
				for _, rt := range in.Config.BGPRoutesFor(ip, pool, in.Self.Labels, svc.Labels) {
					matched = true
					er := bgp.Route{Prefix: rt.Prefix, Attrs: bgp.Attrs{Communities: rt.Communities, LocalPref: rt.LocalPref}}
					for _, l := range rt.LargeCommunities {
						er.Attrs.LargeCommunities = append(er.Attrs.LargeCommunities, bgp.LargeCommunity(l))
					}
					if rt.Peers == nil {
						for _, p := range peers {
							if carriesFamily(p, rt.Prefix) {
								carried[p.Name] = true
							}
						}
					} else {
						er.Peers = []string{}
						for _, name := range rt.Peers {
							if k, ok := keyOf[name]; ok {
								er.Peers = append(er.Peers, k)
								for _, p := range peers {
									if p.Name == name && carriesFamily(p, rt.Prefix) {
										carried[name] = true
									}
								}
							}
						}
					}
					if er.Peers != nil && len(er.Peers) == 0 {
						continue // the ad's peers are not this node's
					}
					d.Desired.Routes = append(d.Desired.Routes, er)
				}
			}
			if !matched {
				r.Reason = ReasonNoMatchingAdvertisement
			}
			for name := range carried {
				r.Peers = append(r.Peers, name)
			}
			slices.Sort(r.Peers)
		}
		d.Services = append(d.Services, r)
	}
	slices.SortFunc(d.Services, func(a, b BGPServiceResult) int {
		if a.Namespace != b.Namespace {
			return strings.Compare(a.Namespace, b.Namespace)
		}
		return strings.Compare(a.Name, b.Name)
	})
	return d
}

func bgpServiceReason(in BGPInput, svc *Service, nodeReason string) string {
	switch {
	case len(svc.IPs) == 0:
		return ReasonNoIPAllocated
	case in.Pools.Of(svc.IPs...) == nil:
		return ReasonIPNotAllowed
	case nodeReason != "":
		return nodeReason
	case svc.Local && !svc.ServingNodes[in.Self.Name]:
		return ReasonNoLocalEndpoints
	case !svc.Serving:
		return ReasonNoEndpoints
	}
	return ""
}

func carriesFamily(p config.BGPPeer, pfx netip.Prefix) bool {
	return p.Address.Is4() == pfx.Addr().Is4()
}

// EnginePeer converts a BGPPeer to the engine's peer.
func EnginePeer(p config.BGPPeer) bgp.Peer {
	ep := bgp.Peer{
		Name: p.Name, Address: p.Address, Port: p.Port, MyASN: p.MyASN, PeerASN: p.PeerASN, DynamicASN: p.DynamicASN,
		SourceAddress: p.SourceAddress, HoldTime: p.HoldTime, KeepaliveTime: p.KeepaliveTime, ConnectTime: p.ConnectTime,
		Password: p.Password, EBGPMultiHop: p.EBGPMultiHop, GracefulRestart: p.GR, VRF: p.VRF,
	}
	if p.BFD != nil {
		ep.BFD = &bgp.BFD{ReceiveInterval: p.BFD.ReceiveInterval, TransmitInterval: p.BFD.TransmitInterval, DetectMultiplier: p.BFD.DetectMultiplier}
	}
	return ep
}
