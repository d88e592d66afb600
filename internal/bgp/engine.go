package bgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// Options configure an Engine.
type Options struct {
	// RouterID is the BGP identifier (usually the node's IPv4 address).
	RouterID netip.Addr
	// ASN is GoBGP's global ASN; each peer overrides it with its own MyASN,
	// so it only matters when no peer is configured.
	ASN uint32
	// ListenPort: 0 = do not listen (sessions are opened by the speaker,
	// as MetalLB's native mode does), otherwise the port to accept on.
	ListenPort int32
	// GracefulRestartTime advertised when a peer enables graceful restart
	// (seconds; 0 = 120).
	GracefulRestartTime uint32
	Logger              *slog.Logger
}

// Engine owns one GoBGP server and converges it to a Desired state.
// Apply is safe to call from one goroutine at a time; Sessions from any.
type Engine struct {
	opts Options
	srv  *server.BgpServer

	mu     sync.Mutex
	peers  map[string]Peer
	plan   exportPlan
	rib    map[netip.Prefix]bool
	policy string // fingerprint of the last SetPolicies
}

const exportPolicy = "ironlb-export"

// New starts a GoBGP server. Stop it with Close.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if !opts.RouterID.Is4() {
		return nil, fmt.Errorf("bgp: router ID %v must be an IPv4 address", opts.RouterID)
	}
	if opts.ASN == 0 {
		opts.ASN = 64512
	}
	if opts.GracefulRestartTime == 0 {
		opts.GracefulRestartTime = 120
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelWarn)
	srv := server.NewBgpServer(server.LoggerOption(opts.Logger, lv))
	go srv.Serve()
	port := opts.ListenPort
	if port == 0 {
		port = -1
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:        opts.ASN,
		RouterId:   opts.RouterID.String(),
		ListenPort: port,
	}}); err != nil {
		srv.Stop()
		return nil, fmt.Errorf("bgp: start: %w", err)
	}
	e := &Engine{opts: opts, srv: srv, peers: map[string]Peer{}, plan: exportPlan{}, rib: map[netip.Prefix]bool{}}
	// Default export: reject. Only what the per-peer statements accept goes out.
	if err := e.setPolicies(exportPlan{}, nil); err != nil {
		srv.Stop()
		return nil, err
	}
	if err := srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name:          "global",
		Direction:     api.PolicyDirection_POLICY_DIRECTION_EXPORT,
		Policies:      []*api.Policy{{Name: exportPolicy}},
		DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
	}}); err != nil {
		srv.Stop()
		return nil, fmt.Errorf("bgp: export policy: %w", err)
	}
	return e, nil
}

// Server exposes the GoBGP server (metrics, watching events).
func (e *Engine) Server() *server.BgpServer { return e.srv }

// Close stops every session (sending a Cease to each peer) and the server.
func (e *Engine) Close() {
	_ = e.srv.StopBgp(context.Background(), &api.StopBgpRequest{})
	e.srv.Stop()
}

// Apply converges GoBGP to d. Peers it refuses are returned (the rest is
// applied); the error is for GoBGP failures. Adding, changing or removing
// one peer or route never resets another peer's session: routes are
// selected per peer by an export policy and refreshed with a soft reset out
// (a re-send, not a session reset).
func (e *Engine) Apply(ctx context.Context, d Desired) ([]PeerError, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	peers, refused := validatePeers(d.Peers)
	plan := planExports(peers, d.Routes)
	rib := plan.ribPrefixes()
	pd := diffPeers(e.peers, peers)
	var errs []error

	for _, p := range pd.Delete {
		if err := e.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: p.Key()}); err != nil {
			errs = append(errs, fmt.Errorf("delete peer %s: %w", p.Key(), err))
		}
		delete(e.peers, p.Key())
	}
	if err := e.setPolicies(plan, peers); err != nil {
		return refused, errors.Join(append(errs, err)...)
	}
	for _, p := range pd.Add {
		if err := e.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: e.apiPeer(p)}); err != nil {
			refused = append(refused, PeerError{Peer: p, Err: fmt.Errorf("GoBGP refused the peer: %w", err)})
			continue
		}
		e.peers[p.Key()] = p
	}
	var add []*apiutil.Path
	for pfx := range rib {
		if !e.rib[pfx] {
			path, err := localPath(pfx, false)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			add = append(add, path)
		}
	}
	if len(add) > 0 {
		if _, err := e.srv.AddPath(apiutil.AddPathRequest{Paths: add}); err != nil {
			errs = append(errs, fmt.Errorf("add paths: %w", err))
		}
	}
	for _, k := range needsRefresh(e.plan, plan, e.rib, rib) {
		if _, ok := e.peers[k]; !ok {
			continue
		}
		if err := e.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: k, Soft: true, Direction: api.ResetPeerRequest_DIRECTION_OUT}); err != nil {
			errs = append(errs, fmt.Errorf("refresh peer %s: %w", k, err))
		}
	}
	var del []*apiutil.Path
	for pfx := range e.rib {
		if !rib[pfx] {
			path, err := localPath(pfx, true)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			del = append(del, path)
		}
	}
	if len(del) > 0 {
		if err := e.srv.DeletePath(apiutil.DeletePathRequest{Paths: del}); err != nil {
			errs = append(errs, fmt.Errorf("withdraw paths: %w", err))
		}
	}
	e.rib = rib
	e.plan = plan
	return refused, errors.Join(errs...)
}

// localPath is a locally originated path with an unspecified next hop, so
// that GoBGP sets each session's own local address as the next hop.
func localPath(pfx netip.Prefix, withdraw bool) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(pfx)
	if err != nil {
		return nil, fmt.Errorf("prefix %s: %w", pfx, err)
	}
	attrs := []bgp.PathAttributeInterface{bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP)}
	fam := bgp.RF_IPv4_UC
	if pfx.Addr().Is4() {
		nh, err := bgp.NewPathAttributeNextHop(netip.IPv4Unspecified())
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, nh)
	} else {
		fam = bgp.RF_IPv6_UC
		mp, err := bgp.NewPathAttributeMpReachNLRI(fam, []bgp.PathNLRI{{NLRI: nlri}}, netip.IPv6Unspecified())
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, mp)
	}
	return &apiutil.Path{Family: fam, Nlri: nlri, Attrs: attrs, Withdrawal: withdraw}, nil
}

func (e *Engine) apiPeer(p Peer) *api.Peer {
	typ := api.PeerType_PEER_TYPE_EXTERNAL
	if p.PeerASN == p.MyASN {
		typ = api.PeerType_PEER_TYPE_INTERNAL
	}
	ap := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Address.String(),
			PeerAsn:         p.PeerASN,
			LocalAsn:        p.MyASN,
			AuthPassword:    p.Password,
			Description:     p.Name,
			Type:            typ,
		},
		Transport: &api.Transport{
			RemotePort:  uint32(p.Port),
			PassiveMode: false,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          uint64(p.HoldTime.Seconds()),
			KeepaliveInterval: uint64(p.KeepaliveTime.Seconds()),
			ConnectRetry:      uint64(p.ConnectTime.Seconds()),
		}},
	}
	if p.PeerASN == 0 {
		ap.Conf.Type = api.PeerType_PEER_TYPE_UNSPECIFIED
	}
	if p.Port == 0 {
		ap.Transport.RemotePort = 179
	}
	if p.SourceAddress.IsValid() {
		ap.Transport.LocalAddress = p.SourceAddress.String()
	}
	if p.VRF != "" {
		ap.Transport.BindInterface = p.VRF
	}
	if p.EBGPMultiHop {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: 255}
	}
	fams := []bgp.Family{bgp.RF_IPv4_UC}
	if p.Address.Is6() {
		fams = []bgp.Family{bgp.RF_IPv6_UC}
	}
	if p.DualStack && !p.DisableMP {
		fams = []bgp.Family{bgp.RF_IPv4_UC, bgp.RF_IPv6_UC}
	}
	for _, f := range fams {
		afi, safi := f.Afi(), f.Safi()
		as := &api.AfiSafi{Config: &api.AfiSafiConfig{
			Family:  &api.Family{Afi: api.Family_Afi(afi), Safi: api.Family_Safi(safi)},
			Enabled: true,
		}}
		if p.GracefulRestart {
			as.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		ap.AfiSafis = append(ap.AfiSafis, as)
	}
	if p.GracefulRestart {
		ap.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: e.opts.GracefulRestartTime}
	}
	if p.BFD != nil {
		ap.Bfd = &api.BfdPeerConfig{
			Enabled:                  true,
			DesiredMinimumTxInterval: uint32(p.BFD.TransmitInterval.Microseconds()),
			RequiredMinimumReceive:   uint32(p.BFD.ReceiveInterval.Microseconds()),
			DetectionMultiplier:      p.BFD.DetectMultiplier,
		}
	}
	return ap
}

// setPolicies rewrites the export policy from plan when it differs from
// the last one written. One neighbour set per peer; one prefix set and one
// statement per (peer, attributes, family): the statement adds that
// group's communities and local preference and accepts.
func (e *Engine) setPolicies(plan exportPlan, peers map[string]Peer) error {
	req := &api.SetPoliciesRequest{}
	pol := &api.Policy{Name: exportPolicy}
	for i, k := range sortedKeys(plan) {
		groups := map[string][]netip.Prefix{}
		attrs := map[string]Attrs{}
		for pfx, a := range plan[k] {
			fam := "4"
			if pfx.Addr().Is6() {
				fam = "6"
			}
			g := fam + "|" + a.signature()
			groups[g] = append(groups[g], pfx)
			attrs[g] = a
		}
		if len(groups) == 0 {
			continue
		}
		nset := "n" + strconv.Itoa(i)
		host := netip.PrefixFrom(peers[k].Address, peers[k].Address.BitLen())
		req.DefinedSets = append(req.DefinedSets, &api.DefinedSet{
			DefinedType: api.DefinedType_DEFINED_TYPE_NEIGHBOR, Name: nset, List: []string{host.String()},
		})
		for j, g := range sortedKeys(groups) {
			pfxs := groups[g]
			slices.SortFunc(pfxs, func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) })
			pset := nset + "p" + strconv.Itoa(j)
			ds := &api.DefinedSet{DefinedType: api.DefinedType_DEFINED_TYPE_PREFIX, Name: pset}
			for _, p := range pfxs {
				ds.Prefixes = append(ds.Prefixes, &api.Prefix{IpPrefix: p.String(), MaskLengthMin: uint32(p.Bits()), MaskLengthMax: uint32(p.Bits())})
			}
			req.DefinedSets = append(req.DefinedSets, ds)
			a := attrs[g]
			act := &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT}
			if len(a.Communities) > 0 {
				cs := make([]string, len(a.Communities))
				for n, c := range a.Communities {
					cs[n] = fmt.Sprintf("%d:%d", c>>16, c&0xffff)
				}
				act.Community = &api.CommunityAction{Type: api.CommunityAction_TYPE_ADD, Communities: cs}
			}
			if len(a.LargeCommunities) > 0 {
				cs := make([]string, len(a.LargeCommunities))
				for n, c := range a.LargeCommunities {
					cs[n] = c.String()
				}
				act.LargeCommunity = &api.CommunityAction{Type: api.CommunityAction_TYPE_ADD, Communities: cs}
			}
			if a.LocalPref != 0 {
				act.LocalPref = &api.LocalPrefAction{Value: a.LocalPref}
			}
			pol.Statements = append(pol.Statements, &api.Statement{
				Name: pset,
				Conditions: &api.Conditions{
					NeighborSet: &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: nset},
					PrefixSet:   &api.MatchSet{Type: api.MatchSet_TYPE_ANY, Name: pset},
				},
				Actions: act,
			})
		}
	}
	req.Policies = []*api.Policy{pol}
	fp := req.String()
	if fp == e.policy {
		return nil
	}
	if err := e.srv.SetPolicies(context.Background(), req); err != nil {
		return fmt.Errorf("bgp: export policy: %w", err)
	}
	e.policy = fp
	return nil
}

// SessionState is one peer's session as GoBGP sees it.
type SessionState struct {
	Peer        string // key
	Established bool
	State       string
	Flops       uint32 // times the session went down from established
	Sent        uint64 // UPDATE messages sent
}

// Sessions reports every configured peer's session.
func (e *Engine) Sessions(ctx context.Context) ([]SessionState, error) {
	var out []SessionState
	err := e.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		s := SessionState{Peer: p.GetConf().GetNeighborAddress()}
		if st := p.GetState(); st != nil {
			s.State = st.GetSessionState().String()
			s.Established = st.GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED
			s.Flops = st.GetFlops()
			s.Sent = st.GetMessages().GetSent().GetUpdate()
		}
		out = append(out, s)
	})
	slices.SortFunc(out, func(a, b SessionState) int { return strings.Compare(a.Peer, b.Peer) })
	return out, err
}
