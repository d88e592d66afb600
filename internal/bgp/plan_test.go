package bgp

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	r1 = Peer{Name: "r1", Address: netip.MustParseAddr("192.0.2.1"), MyASN: 64512, PeerASN: 64500}
	r2 = Peer{Name: "r2", Address: netip.MustParseAddr("192.0.2.2"), MyASN: 64512, PeerASN: 64501}
	r6 = Peer{Name: "r6", Address: netip.MustParseAddr("2001:db8::1"), MyASN: 64512, PeerASN: 64500}
	p4 = netip.MustParsePrefix("198.18.0.1/32")
	q4 = netip.MustParsePrefix("198.18.0.2/32")
	p6 = netip.MustParsePrefix("2001:db8:5::1/128")
)

func peerMap(ps ...Peer) map[string]Peer {
	m := map[string]Peer{}
	for _, p := range ps {
		m[p.Key()] = p
	}
	return m
}

func TestValidatePeers(t *testing.T) {
	for name, tc := range map[string]struct {
		peer    Peer
		wantErr string
	}{
		"a plain eBGP peer is accepted":                   {peer: r1},
		"an address is required":                          {peer: Peer{MyASN: 1}, wantErr: "peerAddress"},
		"myASN 0 is refused":                              {peer: Peer{Address: r1.Address}, wantErr: "myASN"},
		"dynamicASN must be internal or external":         {peer: Peer{Address: r1.Address, MyASN: 1, DynamicASN: "any"}, wantErr: "dynamicASN"},
		"a hold time under 3s is refused (RFC 4271)":      {peer: Peer{Address: r1.Address, MyASN: 1, PeerASN: 2, HoldTime: time.Second}, wantErr: "holdTime"},
		"hold time 0 (no keepalives) is accepted":         {peer: Peer{Address: r1.Address, MyASN: 1, PeerASN: 2}},
		"keepalive above hold time is refused":            {peer: Peer{Address: r1.Address, MyASN: 1, PeerASN: 2, HoldTime: 3 * time.Second, KeepaliveTime: 4 * time.Second}, wantErr: "keepaliveTime"},
		"a source address of the other family is refused": {peer: Peer{Address: r1.Address, MyASN: 1, PeerASN: 2, SourceAddress: r6.Address}, wantErr: "sourceAddress"},
		"a BFD multiplier above 255 is refused":           {peer: Peer{Address: r1.Address, MyASN: 1, PeerASN: 2, BFD: &BFD{DetectMultiplier: 256}}, wantErr: "detectMultiplier"},
	} {
		t.Run(name, func(t *testing.T) {
			ok, bad := validatePeers([]Peer{tc.peer})
			if tc.wantErr == "" {
				if len(bad) != 0 || len(ok) != 1 {
					t.Fatalf("refused: %v", bad)
				}
				return
			}
			if len(bad) != 1 || !strings.Contains(bad[0].Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error naming %q", bad, tc.wantErr)
			}
		})
	}
}

func TestValidatePeersDuplicateAddressRefusesBoth(t *testing.T) {
	other := r1
	other.Name = "r1-again"
	ok, bad := validatePeers([]Peer{r1, other, r2})
	if len(bad) != 2 || len(ok) != 1 || ok[r2.Key()].Name != "r2" {
		t.Fatalf("ok %v bad %v", ok, bad)
	}
}

func TestPlanExports(t *testing.T) {
	c1 := Attrs{Communities: []uint32{1<<16 | 1}}
	c2 := Attrs{Communities: []uint32{2<<16 | 2, 1<<16 | 1}, LocalPref: 50}
	dual := r1
	dual.DualStack = true
	for name, tc := range map[string]struct {
		peers  []Peer
		routes []Route
		want   exportPlan
	}{
		"a route with no peer list goes to every peer of its family": {
			peers:  []Peer{r1, r2, r6},
			routes: []Route{{Prefix: p4}, {Prefix: p6}},
			want:   exportPlan{r1.Key(): {p4: {}}, r2.Key(): {p4: {}}, r6.Key(): {p6: {}}},
		},
		"a route names its peers": {
			peers:  []Peer{r1, r2},
			routes: []Route{{Prefix: p4, Peers: []string{r2.Key()}}},
			want:   exportPlan{r1.Key(): {}, r2.Key(): {p4: {}}},
		},
		"a dual-stack session carries both families": {
			peers:  []Peer{dual},
			routes: []Route{{Prefix: p4}, {Prefix: p6}},
			want:   exportPlan{r1.Key(): {p4: {}, p6: {}}},
		},
		"several advertisements of one prefix merge communities and keep the highest local pref": {
			peers:  []Peer{r1},
			routes: []Route{{Prefix: p4, Attrs: c1}, {Prefix: p4, Attrs: c2}},
			want:   exportPlan{r1.Key(): {p4: {Communities: []uint32{1<<16 | 1, 2<<16 | 2}, LocalPref: 50}}},
		},
		"an unknown peer name is ignored": {
			peers:  []Peer{r1},
			routes: []Route{{Prefix: p4, Peers: []string{"192.0.2.99"}}},
			want:   exportPlan{r1.Key(): {}},
		},
		"prefixes are masked": {
			peers:  []Peer{r1},
			routes: []Route{{Prefix: netip.MustParsePrefix("198.18.0.7/24")}},
			want:   exportPlan{r1.Key(): {netip.MustParsePrefix("198.18.0.0/24"): {}}},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := planExports(peerMap(tc.peers...), tc.routes)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestNeedsRefresh(t *testing.T) {
	rib := func(ps ...netip.Prefix) map[netip.Prefix]bool {
		m := map[netip.Prefix]bool{}
		for _, p := range ps {
			m[p] = true
		}
		return m
	}
	k1, k2 := r1.Key(), r2.Key()
	for name, tc := range map[string]struct {
		old, cur       exportPlan
		oldRIB, newRIB map[netip.Prefix]bool
		want           []string
	}{
		"a new prefix propagates by itself": {
			old: exportPlan{k1: {}}, cur: exportPlan{k1: {p4: {}}},
			oldRIB: rib(), newRIB: rib(p4),
		},
		"a withdrawn prefix propagates by itself": {
			old: exportPlan{k1: {p4: {}}}, cur: exportPlan{k1: {}},
			oldRIB: rib(p4), newRIB: rib(),
		},
		"a prefix kept for another peer but removed from this one needs a refresh of this one only": {
			old: exportPlan{k1: {p4: {}}, k2: {p4: {}}}, cur: exportPlan{k1: {}, k2: {p4: {}}},
			oldRIB: rib(p4), newRIB: rib(p4),
			want: []string{k1},
		},
		"an existing prefix newly sent to a peer needs a refresh of that peer": {
			old: exportPlan{k1: {p4: {}}, k2: {}}, cur: exportPlan{k1: {p4: {}}, k2: {p4: {}}},
			oldRIB: rib(p4), newRIB: rib(p4),
			want: []string{k2},
		},
		"changed communities need a refresh": {
			old: exportPlan{k1: {p4: {}}}, cur: exportPlan{k1: {p4: {Communities: []uint32{5}}}},
			oldRIB: rib(p4), newRIB: rib(p4),
			want: []string{k1},
		},
		"a new peer gets the RIB on establishment": {
			old: exportPlan{}, cur: exportPlan{k1: {p4: {}}},
			oldRIB: rib(p4), newRIB: rib(p4),
		},
		"other peers are untouched by one peer's change": {
			old: exportPlan{k1: {p4: {}, q4: {}}, k2: {q4: {}}}, cur: exportPlan{k1: {p4: {}}, k2: {q4: {}}},
			oldRIB: rib(p4, q4), newRIB: rib(p4, q4),
			want: []string{k1},
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := needsRefresh(tc.old, tc.cur, tc.oldRIB, tc.newRIB)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
		})
	}
}

func TestDiffPeers(t *testing.T) {
	renamed := r1
	renamed.Name = "renamed"
	slower := r1
	slower.HoldTime = 90 * time.Second
	withBFD := r1
	withBFD.BFD = &BFD{DetectMultiplier: 3}
	withBFD2 := r1
	withBFD2.BFD = &BFD{DetectMultiplier: 3}
	for name, tc := range map[string]struct {
		old, cur     []Peer
		add, deleted []string
	}{
		"nothing changes":                                 {old: []Peer{r1, r2}, cur: []Peer{r1, r2}},
		"a new peer is added alone":                       {old: []Peer{r1}, cur: []Peer{r1, r2}, add: []string{"r2"}},
		"a removed peer is deleted alone":                 {old: []Peer{r1, r2}, cur: []Peer{r2}, deleted: []string{"r1"}},
		"renaming the object does not touch the session":  {old: []Peer{r1}, cur: []Peer{renamed}},
		"a changed timer re-creates only that peer":       {old: []Peer{r1, r2}, cur: []Peer{slower, r2}, add: []string{"r1"}, deleted: []string{"r1"}},
		"equal BFD settings in new structs are no change": {old: []Peer{withBFD}, cur: []Peer{withBFD2}},
		"enabling BFD re-creates the peer":                {old: []Peer{r1}, cur: []Peer{withBFD}, add: []string{"r1"}, deleted: []string{"r1"}},
	} {
		t.Run(name, func(t *testing.T) {
			d := diffPeers(peerMap(tc.old...), peerMap(tc.cur...))
			names := func(ps []Peer) []string {
				var out []string
				for _, p := range ps {
					out = append(out, p.Name)
				}
				return out
			}
			if !reflect.DeepEqual(names(d.Add), tc.add) || !reflect.DeepEqual(names(d.Delete), tc.deleted) {
				t.Fatalf("add %v delete %v, want %v %v", names(d.Add), names(d.Delete), tc.add, tc.deleted)
			}
		})
	}
}
