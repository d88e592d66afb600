package config

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	metallbv1beta2 "github.com/ironlb/ironlb/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// BGP kinds, as they appear in problems, events and ConfigurationState.
const (
	KindBGPPeer          = "BGPPeer"
	KindBGPAdvertisement = "BGPAdvertisement"
	KindBFDProfile       = "BFDProfile"
	KindCommunity        = "Community"
)

// MetalLB's defaults.
const (
	DefaultHoldTime    = 90 * time.Second
	DefaultBFDInterval = 300 * time.Millisecond
	DefaultBFDMult     = 3
)

// BGPObjects are the BGP objects of the configuration namespace. Secrets are
// the namespace's Secrets by name (only those BGPPeers reference are read).
type BGPObjects struct {
	Peers       []metallbv1beta2.BGPPeer
	Ads         []metallbv1beta1.BGPAdvertisement
	BFDProfiles []metallbv1beta1.BFDProfile
	Communities []metallbv1beta1.Community
	Secrets     map[string]*corev1.Secret
}

// BGPPeer is a usable BGPPeer: what the BGP engine needs, node-independent.
type BGPPeer struct {
	Name          string
	Address       netip.Addr
	Port          uint16 // 179 when unset
	MyASN         uint32 // localASN when set, else myASN
	PeerASN       uint32 // 0 with DynamicASN
	DynamicASN    string // "internal", "external" or ""
	SourceAddress netip.Addr
	RouterID      netip.Addr // zero = the node's default
	HoldTime      time.Duration
	KeepaliveTime time.Duration
	ConnectTime   time.Duration
	Password      string
	EBGPMultiHop  bool
	GR            bool
	BFD           *BFDProfile // nil = no BFD
	VRF           string
	NodeSelectors []labels.Selector
}

// SelectsNode: no nodeSelectors selects every node.
func (p *BGPPeer) SelectsNode(nodeLabels map[string]string) bool {
	return AnySelects(p.NodeSelectors, nodeLabels)
}

// BFDProfile is the part of a BFDProfile the engine honours.
type BFDProfile struct {
	Name             string
	ReceiveInterval  time.Duration
	TransmitInterval time.Duration
	DetectMultiplier uint32
}

// LargeCommunity is an RFC 8092 community.
type LargeCommunity struct{ ASN, Data1, Data2 uint32 }

// BGPAd is a usable BGPAdvertisement.
type BGPAd struct {
	Name string
	Selection
	AggregationLength   int // 1..32
	AggregationLengthV6 int // 1..128
	LocalPref           uint32
	Communities         []uint32 // sorted, unique (ASN<<16 | value)
	LargeCommunities    []LargeCommunity
	Peers               []string // BGPPeer names; nil = every peer
}

// Unsupported is a field ironlb reads but its BGP engine cannot honour: the
// object works without it, and the user is told (event, ConfigurationState).
type Unsupported struct {
	Kind, Object, Field, Message string
}

func (u Unsupported) String() string {
	return fmt.Sprintf("%s %q: %s is not supported by ironlb's BGP engine (GoBGP) and is ignored: %s", u.Kind, u.Object, u.Field, u.Message)
}

// BGPConfig is what the BGP objects mean.
type BGPConfig struct {
	Peers       []BGPPeer // sorted by name
	Ads         []BGPAd   // sorted by name
	Problems    []Problem // objects left out, with why
	Unsupported []Unsupported
}

// BuildBGP reads the BGP objects. Bad objects are reported and left out;
// the rest is used. pools is the usable pools (for ad validation).
func BuildBGP(in BGPObjects, pools Pools) BGPConfig {
	var out BGPConfig
	profiles := map[string]*BFDProfile{}
	for i := range in.BFDProfiles {
		bp := &in.BFDProfiles[i]
		if bp.DeletionTimestamp != nil {
			continue
		}
		p, uns, err := ParseBFDProfile(bp)
		out.Unsupported = append(out.Unsupported, uns...)
		if err != nil {
			out.Problems = append(out.Problems, Problem{Kind: KindBFDProfile, Object: bp.Name, Message: err.Error()})
			continue
		}
		profiles[bp.Name] = &p
	}
	aliases, probs := parseCommunities(in.Communities)
	out.Problems = append(out.Problems, probs...)
	for i := range in.Peers {
		bp := &in.Peers[i]
		if bp.DeletionTimestamp != nil {
			continue
		}
		p, uns, err := ParseBGPPeer(bp, profiles, in.Secrets)
		out.Unsupported = append(out.Unsupported, uns...)
		if err != nil {
			out.Problems = append(out.Problems, Problem{Kind: KindBGPPeer, Object: bp.Name, Message: err.Error()})
			continue
		}
		out.Peers = append(out.Peers, p)
	}
	for i := range in.Ads {
		ad := &in.Ads[i]
		if ad.DeletionTimestamp != nil {
			continue
		}
		a, err := ParseBGPAd(ad, aliases, pools)
		if err != nil {
			out.Problems = append(out.Problems, Problem{Kind: KindBGPAdvertisement, Object: ad.Name, Message: err.Error()})
			continue
		}
		out.Ads = append(out.Ads, a)
	}
	slices.SortFunc(out.Peers, func(a, b BGPPeer) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Ads, func(a, b BGPAd) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Problems, func(a, b Problem) int {
		return cmp.Or(strings.Compare(a.Kind, b.Kind), strings.Compare(a.Object, b.Object))
	})
	return out
}

// ParseBFDProfile converts a BFDProfile. Echo mode, echo interval, passive
// mode and minimum TTL have no GoBGP counterpart: reported, not applied.
func ParseBFDProfile(bp *metallbv1beta1.BFDProfile) (BFDProfile, []Unsupported, error) {
	p := BFDProfile{Name: bp.Name, ReceiveInterval: DefaultBFDInterval, TransmitInterval: DefaultBFDInterval, DetectMultiplier: DefaultBFDMult}
	ms := func(v *uint32, field string, into *time.Duration) error {
		if v == nil {
			return nil
		}
		if *v < 10 || *v > 60000 {
			return fmt.Errorf("spec.%s: %d ms is outside 10..60000", field, *v)
		}
		*into = time.Duration(*v) * time.Millisecond
		return nil
	}
	if err := ms(bp.Spec.ReceiveInterval, "receiveInterval", &p.ReceiveInterval); err != nil {
		return p, nil, err
	}
	if err := ms(bp.Spec.TransmitInterval, "transmitInterval", &p.TransmitInterval); err != nil {
		return p, nil, err
	}
	if m := bp.Spec.DetectMultiplier; m != nil {
		if *m < 2 || *m > 255 {
			return p, nil, fmt.Errorf("spec.detectMultiplier: %d is outside 2..255", *m)
		}
		p.DetectMultiplier = *m
	}
	var uns []Unsupported
	add := func(field, msg string) {
		uns = append(uns, Unsupported{Kind: KindBFDProfile, Object: bp.Name, Field: "spec." + field, Message: msg})
	}
	if bp.Spec.EchoMode != nil && *bp.Spec.EchoMode {
		add("echoMode", "GoBGP's BFD has no echo function; control packets alone detect failures")
	}
	if bp.Spec.EchoInterval != nil {
		add("echoInterval", "GoBGP's BFD has no echo function")
	}
	if bp.Spec.PassiveMode != nil && *bp.Spec.PassiveMode {
		add("passiveMode", "GoBGP's BFD always sends control packets first")
	}
	if bp.Spec.MinimumTTL != nil {
		add("minimumTtl", "GoBGP's BFD does not check the TTL of received packets")
	}
	return p, uns, nil
}

// ParseBGPPeer converts a BGPPeer. An error names the field and leaves the
// peer out (a session with the wrong password, profile or address is worse
// than none); fields GoBGP cannot honour are returned as Unsupported.
func ParseBGPPeer(bp *metallbv1beta2.BGPPeer, bfd map[string]*BFDProfile, secrets map[string]*corev1.Secret) (BGPPeer, []Unsupported, error) {
	s := bp.Spec
	p := BGPPeer{Name: bp.Name, MyASN: s.MyASN, PeerASN: s.ASN, DynamicASN: string(s.DynamicASN), Port: s.Port,
		EBGPMultiHop: s.EBGPMultiHop, GR: s.EnableGracefulRestart, VRF: s.VRFName}
	var uns []Unsupported
	add := func(field, msg string) {
		uns = append(uns, Unsupported{Kind: KindBGPPeer, Object: bp.Name, Field: "spec." + field, Message: msg})
	}
	if s.Interface != "" {
		return p, nil, errors.New("spec.interface: unnumbered BGP (peering over an interface) is not supported by ironlb's BGP engine; set spec.peerAddress")
	}
	var err error
	if p.Address, err = netip.ParseAddr(s.Address); err != nil {
		return p, nil, fmt.Errorf("spec.peerAddress: %q is not an IP address", s.Address)
	}
	p.Address = p.Address.Unmap()
	if s.MyASN == 0 {
		return p, nil, errors.New("spec.myASN: must not be 0")
	}
	if s.LocalASN != 0 {
		p.MyASN = s.LocalASN
	}
	switch {
	case s.ASN == 0 && s.DynamicASN == "":
		return p, nil, errors.New("spec.peerASN or spec.dynamicASN must be set")
	case s.ASN != 0 && s.DynamicASN != "":
		return p, nil, errors.New("spec.peerASN and spec.dynamicASN are exclusive: set one")
	case s.DynamicASN != "" && s.DynamicASN != metallbv1beta2.InternalASNMode && s.DynamicASN != metallbv1beta2.ExternalASNMode:
		return p, nil, fmt.Errorf("spec.dynamicASN: %q must be internal or external", s.DynamicASN)
	}
	if s.DynamicASN != "" {
		add("dynamicASN", "the session accepts the ASN the router announces; whether it is internal or external is not checked")
	}
	if p.Port == 0 {
		p.Port = 179
	}
	if s.SrcAddress != "" {
		if p.SourceAddress, err = netip.ParseAddr(s.SrcAddress); err != nil {
			return p, nil, fmt.Errorf("spec.sourceAddress: %q is not an IP address", s.SrcAddress)
		}
		if p.SourceAddress.Is4() != p.Address.Is4() {
			return p, nil, fmt.Errorf("spec.sourceAddress %s and spec.peerAddress %s are of different families", p.SourceAddress, p.Address)
		}
	}
	if s.RouterID != "" {
		if p.RouterID, err = netip.ParseAddr(s.RouterID); err != nil || !p.RouterID.Is4() {
			return p, nil, fmt.Errorf("spec.routerID: %q is not an IPv4 address", s.RouterID)
		}
	}
	if p.HoldTime, p.KeepaliveTime, err = timers(bp); err != nil {
		return p, nil, err
	}
	if s.ConnectTime != nil {
		ct := s.ConnectTime.Duration
		if ct < time.Second || ct > 65535*time.Second || ct%time.Second != 0 {
			return p, nil, fmt.Errorf("spec.connectTime: %s must be whole seconds in 1s..65535s", ct)
		}
		p.ConnectTime = ct
	}
	if s.EBGPMultiHop && s.ASN != 0 && s.ASN == p.MyASN {
		return p, nil, errors.New("spec.ebgpMultiHop: only for eBGP peers (peerASN differs from myASN)")
	}
	switch {
	case s.Password != "" && s.PasswordSecret.Name != "":
		return p, nil, errors.New("spec.password and spec.passwordSecret are exclusive: set one")
	case s.Password != "":
		p.Password = s.Password
	case s.PasswordSecret.Name != "":
		sec := secrets[s.PasswordSecret.Name]
		if sec == nil {
			return p, nil, fmt.Errorf("spec.passwordSecret: Secret %q not found in the configuration namespace; create it (type kubernetes.io/basic-auth, key \"password\")", s.PasswordSecret.Name)
		}
		if sec.Type != corev1.SecretTypeBasicAuth {
			return p, nil, fmt.Errorf("spec.passwordSecret: Secret %q has type %q, want kubernetes.io/basic-auth", sec.Name, sec.Type)
		}
		pw, ok := sec.Data[corev1.BasicAuthPasswordKey]
		if !ok || len(pw) == 0 {
			return p, nil, fmt.Errorf("spec.passwordSecret: Secret %q has no \"password\" key", sec.Name)
		}
		p.Password = string(pw)
	}
	if s.BFDProfile != "" {
		prof := bfd[s.BFDProfile]
		if prof == nil {
			return p, nil, fmt.Errorf("spec.bfdProfile: BFDProfile %q not found (or invalid); create it or remove the reference", s.BFDProfile)
		}
		p.BFD = prof
	}
	if p.NodeSelectors, err = selectors(s.NodeSelectors, "nodeSelectors"); err != nil {
		return p, nil, err
	}
	if s.DualStackAddressFamily {
		add("dualStackAddressFamily", "each address family needs its own BGPPeer (IPv4 prefixes go to IPv4 peers, IPv6 to IPv6 peers)")
	}
	// disableMP is deprecated and ignored by MetalLB itself: same here.
	return p, uns, nil
}

// timers applies MetalLB's rules: if only one of holdTime/keepaliveTime is
// set the other is derived (hold = 3 x keepalive); hold is 0 or >= 3s.
func timers(bp *metallbv1beta2.BGPPeer) (hold, keep time.Duration, err error) {
	h, k := bp.Spec.HoldTime, bp.Spec.KeepaliveTime
	switch {
	case h == nil && k == nil:
		hold, keep = DefaultHoldTime, DefaultHoldTime/3
	case h != nil && k == nil:
		hold, keep = h.Duration, h.Duration/3
	case h == nil && k != nil:
		hold, keep = 3*k.Duration, k.Duration
	default:
		hold, keep = h.Duration, k.Duration
	}
	if hold != 0 && hold < 3*time.Second {
		return 0, 0, fmt.Errorf("spec.holdTime: %s must be 0 or at least 3s", hold)
	}
	if keep > hold && hold != 0 {
		return 0, 0, fmt.Errorf("spec.keepaliveTime: %s must not exceed holdTime %s", keep, hold)
	}
	if hold%time.Second != 0 || keep%time.Second != 0 {
		return 0, 0, fmt.Errorf("spec.holdTime/keepaliveTime: %s/%s must be whole seconds", hold, keep)
	}
	return hold, keep, nil
}

// community is a parsed community value.
type community struct {
	std   uint32
	large *LargeCommunity
}

// ParseCommunity parses "AA:NN" (16 bits each) or "large:A:B:C" (32 bits each).
func ParseCommunity(s string) (std uint32, large *LargeCommunity, err error) {
	if rest, ok := strings.CutPrefix(s, "large:"); ok {
		f := strings.Split(rest, ":")
		if len(f) != 3 {
			return 0, nil, fmt.Errorf("%q: a large community is large:ASN:DATA1:DATA2", s)
		}
		var v [3]uint32
		for i, x := range f {
			n, err := strconv.ParseUint(x, 10, 32)
			if err != nil {
				return 0, nil, fmt.Errorf("%q: %q is not a 32-bit number", s, x)
			}
			v[i] = uint32(n)
		}
		return 0, &LargeCommunity{v[0], v[1], v[2]}, nil
	}
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, nil, fmt.Errorf("%q: a community is AA:NN (16-bit numbers) or large:A:B:C", s)
	}
	x, err1 := strconv.ParseUint(a, 10, 16)
	y, err2 := strconv.ParseUint(b, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, nil, fmt.Errorf("%q: a community is AA:NN with both numbers in 0..65535", s)
	}
	return uint32(x)<<16 | uint32(y), nil, nil
}

func parseCommunities(cs []metallbv1beta1.Community) (map[string]community, []Problem) {
	out := map[string]community{}
	owner := map[string]string{}
	var probs []Problem
	sorted := slices.Clone(cs)
	slices.SortFunc(sorted, func(a, b metallbv1beta1.Community) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range sorted {
		if c.DeletionTimestamp != nil {
			continue
		}
		for i, a := range c.Spec.Communities {
			std, large, err := ParseCommunity(a.Value)
			if err != nil {
				probs = append(probs, Problem{Kind: KindCommunity, Object: c.Name, Message: fmt.Sprintf("spec.communities[%d].value: %v", i, err)})
				continue
			}
			if o, dup := owner[a.Name]; dup {
				probs = append(probs, Problem{Kind: KindCommunity, Object: c.Name, Message: fmt.Sprintf("spec.communities[%d].name: alias %q is already defined by Community %q; alias names must be unique", i, a.Name, o)})
				continue
			}
			owner[a.Name] = c.Name
			out[a.Name] = community{std: std, large: large}
		}
	}
	return out, probs
}

// ParseBGPAd converts a BGPAdvertisement; communities may be literal or
// Community alias names.
func ParseBGPAd(ad *metallbv1beta1.BGPAdvertisement, aliases map[string]community, pools Pools) (BGPAd, error) {
	sel, err := ParseSelection(SelectorFields{
		IPAddressPools:         ad.Spec.IPAddressPools,
		IPAddressPoolSelectors: ad.Spec.IPAddressPoolSelectors,
		NodeSelectors:          ad.Spec.NodeSelectors,
		ServiceSelectors:       ad.Spec.ServiceSelectors,
	})
	if err != nil {
		return BGPAd{}, err
	}
	a := BGPAd{Name: ad.Name, Selection: sel, AggregationLength: 32, AggregationLengthV6: 128, LocalPref: ad.Spec.LocalPref, Peers: slices.Clone(ad.Spec.Peers)}
	if l := ad.Spec.AggregationLength; l != nil {
		if *l < 1 || *l > 32 {
			return BGPAd{}, fmt.Errorf("spec.aggregationLength: %d is outside 1..32", *l)
		}
		a.AggregationLength = int(*l)
	}
	if l := ad.Spec.AggregationLengthV6; l != nil {
		if *l < 1 || *l > 128 {
			return BGPAd{}, fmt.Errorf("spec.aggregationLengthV6: %d is outside 1..128", *l)
		}
		a.AggregationLengthV6 = int(*l)
	}
	if len(sel.ServiceSelectors) > 0 && (a.AggregationLength != 32 || a.AggregationLengthV6 != 128) {
		return BGPAd{}, errors.New("spec.serviceSelectors: only with the default aggregation lengths (32 and 128)")
	}
	for i, c := range ad.Spec.Communities {
		var std uint32
		var large *LargeCommunity
		if al, ok := aliases[c]; ok {
			std, large = al.std, al.large
		} else if strings.Contains(c, ":") {
			if std, large, err = ParseCommunity(c); err != nil {
				return BGPAd{}, fmt.Errorf("spec.communities[%d]: %w", i, err)
			}
		} else {
			return BGPAd{}, fmt.Errorf("spec.communities[%d]: %q is neither AA:NN, large:A:B:C nor the name of an alias in a Community object", i, c)
		}
		if large != nil {
			a.LargeCommunities = append(a.LargeCommunities, *large)
		} else {
			a.Communities = append(a.Communities, std)
		}
	}
	slices.Sort(a.Communities)
	a.Communities = slices.Compact(a.Communities)
	slices.SortFunc(a.LargeCommunities, func(x, y LargeCommunity) int {
		return cmp.Or(cmp.Compare(x.ASN, y.ASN), cmp.Compare(x.Data1, y.Data1), cmp.Compare(x.Data2, y.Data2))
	})
	a.LargeCommunities = slices.Compact(a.LargeCommunities)
	// An aggregate must not reach outside the pools it advertises: a /24
	// for a pool that is a /26 would attract traffic for addresses the
	// cluster does not own.
	for i := range pools {
		p := &pools[i]
		if !sel.SelectsPool(p) {
			continue
		}
		for _, r := range p.Ranges {
			for _, pfx := range r.Prefixes() {
				l, field := a.AggregationLength, "aggregationLength"
				if pfx.Addr().Is6() {
					l, field = a.AggregationLengthV6, "aggregationLengthV6"
				}
				if l < pfx.Bits() {
					return BGPAd{}, fmt.Errorf("spec.%s: /%d is shorter than %s in IPAddressPool %q; the aggregate would cover addresses outside the pool", field, l, pfx, p.Name)
				}
			}
		}
	}
	return a, nil
}

// BGPRoute is one prefix an advertisement asks a node to send.
type BGPRoute struct {
	Prefix           netip.Prefix
	Ad               string
	Peers            []string // BGPPeer names; nil = every peer of the node
	Communities      []uint32
	LargeCommunities []LargeCommunity
	LocalPref        uint32
}

// BGPRoutesFor returns the routes for a Service IP of pool from a node:
// one per advertisement selecting the pool, the node and the Service. No
// route means no advertisement applies (MetalLB: noMatchingAdvertisement).
func (c *BGPConfig) BGPRoutesFor(ip netip.Addr, pool *Pool, nodeLabels, svcLabels map[string]string) []BGPRoute {
	var out []BGPRoute
	for i := range c.Ads {
		a := &c.Ads[i]
		if pool == nil || !a.SelectsPool(pool) || !a.SelectsNode(nodeLabels) || !a.SelectsService(svcLabels) {
			continue
		}
		l := a.AggregationLength
		if ip.Is6() {
			l = a.AggregationLengthV6
		}
		pfx, err := ip.Prefix(l)
		if err != nil {
			continue
		}
		out = append(out, BGPRoute{Prefix: pfx, Ad: a.Name, Peers: a.Peers, Communities: a.Communities, LargeCommunities: a.LargeCommunities, LocalPref: a.LocalPref})
	}
	return out
}

// PeersFor returns the peers a node should have sessions with.
func (c *BGPConfig) PeersFor(nodeLabels map[string]string) []BGPPeer {
	var out []BGPPeer
	for _, p := range c.Peers {
		if p.SelectsNode(nodeLabels) {
			out = append(out, p)
		}
	}
	return out
}
