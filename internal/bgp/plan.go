// Package bgp is ironlb's BGP engine: one embedded GoBGP v4 server per speaker,
// converged level-based from a desired state (peers and routes) by diffing. The
// decision parts (validation, per-peer export plan, diff) are pure and live in
// this file; engine.go talks to GoBGP. See README.md.
package bgp

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Peer is one BGP neighbour the speaker should have a session with.
type Peer struct {
	// Name identifies the peer for reporting (e.g. "metallb-system/router-a").
	Name    string
	Address netip.Addr
	Port    uint16 // 0 = 179
	MyASN   uint32
	// PeerASN 0 means "any ASN" (MetalLB's dynamicASN); DynamicASN then says
	// which kind is expected ("internal", "external" or "" for either).
	PeerASN       uint32
	DynamicASN    string
	SourceAddress netip.Addr // zero = chosen by the kernel
	HoldTime      time.Duration
	KeepaliveTime time.Duration
	ConnectTime   time.Duration
	Password      string
	EBGPMultiHop  bool
	// GracefulRestart enables the graceful restart capability (RFC 4724) as
	// a restarting speaker, so the router keeps our routes while we restart.
	GracefulRestart bool
	BFD             *BFD
	// DisableMP: IPv4 prefixes only over an IPv4 session, IPv6 only over
	// IPv6, each family in its own session (MetalLB's disableMP).
	DisableMP bool
	// DualStack advertises both families over this one session.
	DualStack bool
	// VRF binds the session's socket to this Linux VRF device (or any
	// interface): SO_BINDTODEVICE through GoBGP's transport BindInterface.
	VRF string
}

// BFD is the subset of a BFDProfile GoBGP's native BFD honours.
type BFD struct {
	ReceiveInterval  time.Duration
	TransmitInterval time.Duration
	DetectMultiplier uint32
}

// Key is how the engine (and GoBGP) identifies a peer: its address.
func (p Peer) Key() string { return p.Address.String() }

// LargeCommunity is an RFC 8092 large community.
type LargeCommunity struct{ ASN, Data1, Data2 uint32 }

func (l LargeCommunity) String() string { return fmt.Sprintf("%d:%d:%d", l.ASN, l.Data1, l.Data2) }

// Attrs are the per-peer attributes a route carries.
type Attrs struct {
	Communities      []uint32 // standard communities (ASN<<16 | value)
	LargeCommunities []LargeCommunity
	LocalPref        uint32 // 0 = unset; only sent on iBGP sessions (as MetalLB)
}

// Route is one prefix to advertise to some peers with some attributes.
// Several Routes may name the same prefix (several BGPAdvertisements): each
// peer gets the union of their communities and the highest local preference.
type Route struct {
	Prefix netip.Prefix
	Peers  []string // peer keys; nil = every peer
	Attrs  Attrs
}

// Desired is the whole state the engine converges to.
type Desired struct {
	Peers  []Peer
	Routes []Route
}

// PeerError is a peer the engine refuses, with why.
type PeerError struct {
	Peer Peer
	Err  error
}

func (e PeerError) Error() string {
	name := e.Peer.Name
	if name == "" {
		name = e.Peer.Key()
	}
	return fmt.Sprintf("BGP peer %s: %v", name, e.Err)
}

// validatePeers returns the usable peers by key and the refused ones. Two
// peers with one address are refused both: GoBGP keys sessions by address,
// and picking one silently would hide the conflict.
func validatePeers(peers []Peer) (map[string]Peer, []PeerError) {
	ok := map[string]Peer{}
	var bad []PeerError
	dup := map[string]int{}
	for _, p := range peers {
		if p.Address.IsValid() {
			dup[p.Key()]++
		}
	}
	for _, p := range peers {
		var err error
		switch {
		case !p.Address.IsValid():
			err = fmt.Errorf("peerAddress is not an IP address")
		case dup[p.Key()] > 1:
			err = fmt.Errorf("peerAddress %s is used by another peer on this node; one session per address", p.Address)
		case p.MyASN == 0:
			err = fmt.Errorf("myASN must not be 0")
		case p.PeerASN == 0 && p.DynamicASN != "" && p.DynamicASN != "internal" && p.DynamicASN != "external":
			err = fmt.Errorf("dynamicASN %q must be internal or external", p.DynamicASN)
		case p.HoldTime != 0 && p.HoldTime < 3*time.Second:
			err = fmt.Errorf("holdTime %s must be 0 or at least 3s (RFC 4271)", p.HoldTime)
		case p.KeepaliveTime != 0 && p.HoldTime != 0 && p.KeepaliveTime > p.HoldTime:
			err = fmt.Errorf("keepaliveTime %s must not exceed holdTime %s", p.KeepaliveTime, p.HoldTime)
		case p.SourceAddress.IsValid() && p.SourceAddress.Is4() != p.Address.Is4():
			err = fmt.Errorf("sourceAddress %s and peerAddress %s are of different families", p.SourceAddress, p.Address)
		case p.BFD != nil && p.BFD.DetectMultiplier > 255:
			err = fmt.Errorf("BFD detectMultiplier %d exceeds 255", p.BFD.DetectMultiplier)
		}
		if err != nil {
			bad = append(bad, PeerError{Peer: p, Err: err})
			continue
		}
		ok[p.Key()] = p
	}
	return ok, bad
}

// carries reports whether a session to p can carry prefix's family.
func carries(p Peer, prefix netip.Prefix) bool {
	if prefix.Addr().Is4() == p.Address.Is4() {
		return true
	}
	return p.DualStack && !p.DisableMP
}

// exportPlan is, per peer key, the prefixes it should receive and their
// merged attributes.
type exportPlan map[string]map[netip.Prefix]Attrs

func planExports(peers map[string]Peer, routes []Route) exportPlan {
	plan := exportPlan{}
	for k := range peers {
		plan[k] = map[netip.Prefix]Attrs{}
	}
	for _, r := range routes {
		pfx := r.Prefix.Masked()
		targets := r.Peers
		if targets == nil {
			targets = sortedKeys(peers)
		}
		for _, k := range targets {
			p, ok := peers[k]
			if !ok || !carries(p, pfx) {
				continue
			}
			old, had := plan[k][pfx]
			if !had {
				plan[k][pfx] = normAttrs(r.Attrs)
				continue
			}
			plan[k][pfx] = mergeAttrs(old, r.Attrs)
		}
	}
	return plan
}

func normAttrs(a Attrs) Attrs {
	c := slices.Clone(a.Communities)
	slices.Sort(c)
	c = slices.Compact(c)
	l := slices.Clone(a.LargeCommunities)
	slices.SortFunc(l, cmpLarge)
	l = slices.Compact(l)
	if len(c) == 0 {
		c = nil
	}
	if len(l) == 0 {
		l = nil
	}
	return Attrs{Communities: c, LargeCommunities: l, LocalPref: a.LocalPref}
}

func mergeAttrs(a, b Attrs) Attrs {
	m := Attrs{
		Communities:      append(slices.Clone(a.Communities), b.Communities...),
		LargeCommunities: append(slices.Clone(a.LargeCommunities), b.LargeCommunities...),
		LocalPref:        max(a.LocalPref, b.LocalPref),
	}
	return normAttrs(m)
}

func cmpLarge(a, b LargeCommunity) int {
	return cmp.Or(cmp.Compare(a.ASN, b.ASN), cmp.Compare(a.Data1, b.Data1), cmp.Compare(a.Data2, b.Data2))
}

// signature is a stable text form of attributes, used to group prefixes
// that share them into one policy statement.
func (a Attrs) signature() string {
	var b strings.Builder
	for _, c := range a.Communities {
		fmt.Fprintf(&b, "c%d:%d,", c>>16, c&0xffff)
	}
	for _, l := range a.LargeCommunities {
		b.WriteString("l" + l.String() + ",")
	}
	b.WriteString("p" + strconv.FormatUint(uint64(a.LocalPref), 10))
	return b.String()
}

// ribPrefixes is every prefix some peer should receive: what the engine
// keeps in GoBGP's RIB (the export policy picks per peer).
func (p exportPlan) ribPrefixes() map[netip.Prefix]bool {
	all := map[netip.Prefix]bool{}
	for _, m := range p {
		for pfx := range m {
			all[pfx] = true
		}
	}
	return all
}

// needsRefresh lists the peers (present in both plans) whose export
// changed in a way GoBGP does not propagate by itself: a prefix that stays
// in the RIB was removed from or added to the peer, or its attributes
// changed. Prefixes entering or leaving the RIB propagate on their own.
func needsRefresh(old, cur exportPlan, oldRIB, newRIB map[netip.Prefix]bool) []string {
	var out []string
	for k, now := range cur {
		before, ok := old[k]
		if !ok {
			continue // a new peer gets the RIB through policy on establishment
		}
		changed := false
		for pfx, a := range now {
			b, had := before[pfx]
			if !had {
				if oldRIB[pfx] {
					changed = true
				}
			} else if a.signature() != b.signature() {
				changed = true
			}
			if changed {
				break
			}
		}
		if !changed {
			for pfx := range before {
				if _, still := now[pfx]; !still && newRIB[pfx] {
					changed = true
					break
				}
			}
		}
		if changed {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// peerDiff says what to do with GoBGP's neighbours.
type peerDiff struct {
	Add, Delete []Peer // a changed peer is deleted then added (only its session resets)
}

func diffPeers(old, cur map[string]Peer) peerDiff {
	var d peerDiff
	for _, k := range sortedKeys(old) {
		o := old[k]
		n, ok := cur[k]
		if !ok {
			d.Delete = append(d.Delete, o)
		} else if !samePeer(o, n) {
			d.Delete = append(d.Delete, o)
			d.Add = append(d.Add, n)
		}
	}
	for _, k := range sortedKeys(cur) {
		if _, ok := old[k]; !ok {
			d.Add = append(d.Add, cur[k])
		}
	}
	return d
}

// samePeer compares what reaches GoBGP's neighbour config (Name is only
// for reports: renaming a BGPPeer must not reset its session).
func samePeer(a, b Peer) bool {
	a.Name, b.Name = "", ""
	ab, bb := a.BFD, b.BFD
	a.BFD, b.BFD = nil, nil
	if a != b {
		return false
	}
	if (ab == nil) != (bb == nil) {
		return false
	}
	return ab == nil || *ab == *bb
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
