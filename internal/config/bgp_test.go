package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	metallbv1beta2 "github.com/ironlb/ironlb/api/v1beta2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func peerObj(name string, mut func(*metallbv1beta2.BGPPeerSpec)) metallbv1beta2.BGPPeer {
	p := metallbv1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: metallbv1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64500, Address: "192.0.2.1"}}
	if mut != nil {
		mut(&p.Spec)
	}
	return p
}

func dur(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }
func u32(v uint32) *uint32                 { return &v }
func i32(v int32) *int32                   { return &v }
func bptr(v bool) *bool                    { return &v }

func TestParseBGPPeer(t *testing.T) {
	secrets := map[string]*corev1.Secret{
		"good":   {ObjectMeta: metav1.ObjectMeta{Name: "good"}, Type: corev1.SecretTypeBasicAuth, Data: map[string][]byte{"password": []byte("pw")}},
		"opaque": {ObjectMeta: metav1.ObjectMeta{Name: "opaque"}, Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("pw")}},
		"nokey":  {ObjectMeta: metav1.ObjectMeta{Name: "nokey"}, Type: corev1.SecretTypeBasicAuth, Data: map[string][]byte{"username": []byte("u")}},
	}
	fast := &BFDProfile{Name: "fast", ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 100 * time.Millisecond, DetectMultiplier: 3}
	bfd := map[string]*BFDProfile{"fast": fast}
	for name, tc := range map[string]struct {
		mut         func(*metallbv1beta2.BGPPeerSpec)
		check       func(t *testing.T, p BGPPeer)
		wantErr     string
		unsupported string
	}{
		"defaults are MetalLB's: port 179, hold 90s, keepalive 30s": {
			check: func(t *testing.T, p BGPPeer) {
				if p.Port != 179 || p.HoldTime != 90*time.Second || p.KeepaliveTime != 30*time.Second {
					t.Fatalf("%+v", p)
				}
			},
		},
		"keepalive is derived from hold time": {
			mut: func(s *metallbv1beta2.BGPPeerSpec) { s.HoldTime = dur(9 * time.Second) },
			check: func(t *testing.T, p BGPPeer) {
				if p.KeepaliveTime != 3*time.Second {
					t.Fatalf("%+v", p)
				}
			},
		},
		"hold time is derived from keepalive": {
			mut: func(s *metallbv1beta2.BGPPeerSpec) { s.KeepaliveTime = dur(5 * time.Second) },
			check: func(t *testing.T, p BGPPeer) {
				if p.HoldTime != 15*time.Second {
					t.Fatalf("%+v", p)
				}
			},
		},
		"hold time under 3s is refused": {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.HoldTime = dur(2 * time.Second) }, wantErr: "spec.holdTime"},
		"keepalive above hold time is refused": {mut: func(s *metallbv1beta2.BGPPeerSpec) {
			s.HoldTime, s.KeepaliveTime = dur(3*time.Second), dur(4*time.Second)
		}, wantErr: "spec.keepaliveTime"},
		"connect time must be whole seconds":      {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.ConnectTime = dur(1500 * time.Millisecond) }, wantErr: "spec.connectTime"},
		"a bad peer address is refused":           {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.Address = "router-1" }, wantErr: "spec.peerAddress"},
		"unnumbered BGP is refused with a reason": {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.Address, s.Interface = "", "eth0" }, wantErr: "spec.interface"},
		"peerASN and dynamicASN are exclusive":    {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.DynamicASN = "external" }, wantErr: "exclusive"},
		"dynamicASN works and is reported as not checked": {
			mut:         func(s *metallbv1beta2.BGPPeerSpec) { s.ASN, s.DynamicASN = 0, "external" },
			unsupported: "spec.dynamicASN",
			check: func(t *testing.T, p BGPPeer) {
				if p.PeerASN != 0 || p.DynamicASN != "external" {
					t.Fatalf("%+v", p)
				}
			},
		},
		"localASN replaces myASN on the session": {
			mut:   func(s *metallbv1beta2.BGPPeerSpec) { s.LocalASN = 65001 },
			check: func(t *testing.T, p BGPPeer) { eq(t, p.MyASN, uint32(65001)) },
		},
		"a source address of the other family is refused": {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.SrcAddress = "2001:db8::1" }, wantErr: "different families"},
		"router ID must be IPv4":                          {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.RouterID = "2001:db8::1" }, wantErr: "spec.routerID"},
		"ebgpMultiHop on an iBGP peer is refused":         {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.ASN, s.EBGPMultiHop = 64512, true }, wantErr: "spec.ebgpMultiHop"},
		"password from a basic-auth Secret": {
			mut:   func(s *metallbv1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "good" },
			check: func(t *testing.T, p BGPPeer) { eq(t, p.Password, "pw") },
		},
		"a missing password Secret is refused, naming it": {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "gone" }, wantErr: `Secret "gone" not found`},
		"a Secret of the wrong type is refused":           {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "opaque" }, wantErr: "basic-auth"},
		"a Secret without a password key is refused":      {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "nokey" }, wantErr: `no "password" key`},
		"password and passwordSecret are exclusive":       {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.Password, s.PasswordSecret.Name = "x", "good" }, wantErr: "exclusive"},
		"a BFD profile is resolved": {
			mut:   func(s *metallbv1beta2.BGPPeerSpec) { s.BFDProfile = "fast" },
			check: func(t *testing.T, p BGPPeer) { eq(t, p.BFD, fast) },
		},
		"an unknown BFD profile is refused, naming it": {mut: func(s *metallbv1beta2.BGPPeerSpec) { s.BFDProfile = "slow" }, wantErr: `BFDProfile "slow" not found`},
		"dualStackAddressFamily is reported as unsupported": {
			mut: func(s *metallbv1beta2.BGPPeerSpec) { s.DualStackAddressFamily = true }, unsupported: "spec.dualStackAddressFamily",
		},
		"graceful restart, multihop and vrf are carried": {
			mut: func(s *metallbv1beta2.BGPPeerSpec) {
				s.EnableGracefulRestart, s.EBGPMultiHop, s.VRFName = true, true, "red"
			},
			check: func(t *testing.T, p BGPPeer) {
				if !p.GR || !p.EBGPMultiHop || p.VRF != "red" {
					t.Fatalf("%+v", p)
				}
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			obj := peerObj("p", tc.mut)
			p, uns, err := ParseBGPPeer(&obj, bfd, secrets)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.unsupported != "" {
				if len(uns) != 1 || uns[0].Field != tc.unsupported {
					t.Fatalf("unsupported %v, want %s", uns, tc.unsupported)
				}
			} else if len(uns) != 0 {
				t.Fatalf("unexpected unsupported %v", uns)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func eq[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestParseBFDProfile(t *testing.T) {
	for name, tc := range map[string]struct {
		spec    metallbv1beta1.BFDProfileSpec
		want    BFDProfile
		uns     []string
		wantErr string
	}{
		"defaults are 300ms x 3": {want: BFDProfile{Name: "b", ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}},
		"intervals and multiplier are honoured": {
			spec: metallbv1beta1.BFDProfileSpec{ReceiveInterval: u32(100), TransmitInterval: u32(150), DetectMultiplier: u32(5)},
			want: BFDProfile{Name: "b", ReceiveInterval: 100 * time.Millisecond, TransmitInterval: 150 * time.Millisecond, DetectMultiplier: 5},
		},
		"an interval under 10ms is refused": {spec: metallbv1beta1.BFDProfileSpec{ReceiveInterval: u32(5)}, wantErr: "spec.receiveInterval"},
		"a multiplier of 1 is refused":      {spec: metallbv1beta1.BFDProfileSpec{DetectMultiplier: u32(1)}, wantErr: "spec.detectMultiplier"},
		"echo, passive and minimumTtl are reported, not applied": {
			spec: metallbv1beta1.BFDProfileSpec{EchoMode: bptr(true), EchoInterval: u32(50), PassiveMode: bptr(true), MinimumTTL: u32(254)},
			want: BFDProfile{Name: "b", ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3},
			uns:  []string{"spec.echoMode", "spec.echoInterval", "spec.passiveMode", "spec.minimumTtl"},
		},
		"echo mode off is not reported": {spec: metallbv1beta1.BFDProfileSpec{EchoMode: bptr(false)}, want: BFDProfile{Name: "b", ReceiveInterval: 300 * time.Millisecond, TransmitInterval: 300 * time.Millisecond, DetectMultiplier: 3}},
	} {
		t.Run(name, func(t *testing.T) {
			obj := metallbv1beta1.BFDProfile{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Spec: tc.spec}
			p, uns, err := ParseBFDProfile(&obj)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			eq(t, p, tc.want)
			var fields []string
			for _, u := range uns {
				fields = append(fields, u.Field)
			}
			eq(t, fields, tc.uns)
		})
	}
}

func TestParseCommunity(t *testing.T) {
	for name, tc := range map[string]struct {
		in      string
		std     uint32
		large   *LargeCommunity
		wantErr bool
	}{
		"AA:NN":                                 {in: "65000:100", std: 65000<<16 | 100},
		"0:0 is valid":                          {in: "0:0"},
		"a part above 65535 is refused":         {in: "65536:1", wantErr: true},
		"large:A:B:C":                           {in: "large:4200000000:1:2", large: &LargeCommunity{4200000000, 1, 2}},
		"a large part above 2^32 is refused":    {in: "large:4294967296:1:2", wantErr: true},
		"a large community needs 3 parts":       {in: "large:1:2", wantErr: true},
		"no colon is refused":                   {in: "65000", wantErr: true},
		"three parts without large: is refused": {in: "1:2:3", wantErr: true},
		"negative numbers are refused":          {in: "-1:2", wantErr: true},
	} {
		t.Run(name, func(t *testing.T) {
			std, large, err := ParseCommunity(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("no error for %q", tc.in)
				}
				return
			}
			if err != nil || std != tc.std || !reflect.DeepEqual(large, tc.large) {
				t.Fatalf("got %v %v %v", std, large, err)
			}
		})
	}
}

func FuzzParseCommunity(f *testing.F) {
	for _, s := range []string{"65000:100", "large:1:2:3", "1:2:3", ":", "large:", "large:::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		std, large, err := ParseCommunity(s)
		if err != nil {
			return
		}
		// What parses prints back to an equivalent value.
		var again string
		if large != nil {
			again = "large:" + itoa(large.ASN) + ":" + itoa(large.Data1) + ":" + itoa(large.Data2)
		} else {
			again = itoa(std>>16) + ":" + itoa(std&0xffff)
		}
		s2, l2, err := ParseCommunity(again)
		if err != nil || s2 != std || !reflect.DeepEqual(l2, large) {
			t.Fatalf("%q -> %q does not round-trip: %v", s, again, err)
		}
	})
}

func itoa(v uint32) string { return uitoa(v) }

func uitoa(v uint32) string {
	if v == 0 {
		return "0"
	}
	var b []byte
	for v > 0 {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
	}
	return string(b)
}

func TestBuildBGP(t *testing.T) {
	pools, _ := BuildPools([]metallbv1beta1.IPAddressPool{
		{ObjectMeta: metav1.ObjectMeta{Name: "pub", Labels: map[string]string{"zone": "a"}}, Spec: metallbv1beta1.IPAddressPoolSpec{Addresses: []string{"198.18.0.0/24", "2001:db8:5::/120"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "small"}, Spec: metallbv1beta1.IPAddressPoolSpec{Addresses: []string{"198.18.1.0/26"}}},
	}, nil)
	in := BGPObjects{
		Peers: []metallbv1beta2.BGPPeer{
			peerObj("tor-a", func(s *metallbv1beta2.BGPPeerSpec) { s.BFDProfile = "fast" }),
			peerObj("tor-b", func(s *metallbv1beta2.BGPPeerSpec) {
				s.Address = "192.0.2.2"
				s.NodeSelectors = []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "b"}}}
			}),
			peerObj("broken", func(s *metallbv1beta2.BGPPeerSpec) { s.PasswordSecret.Name = "missing" }),
		},
		BFDProfiles: []metallbv1beta1.BFDProfile{{ObjectMeta: metav1.ObjectMeta{Name: "fast"}, Spec: metallbv1beta1.BFDProfileSpec{ReceiveInterval: u32(100), TransmitInterval: u32(100), EchoMode: bptr(true)}}},
		Communities: []metallbv1beta1.Community{
			{ObjectMeta: metav1.ObjectMeta{Name: "c1"}, Spec: metallbv1beta1.CommunitySpec{Communities: []metallbv1beta1.CommunityAlias{{Name: "no-export", Value: "65535:65281"}, {Name: "big", Value: "large:1:2:3"}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "c2"}, Spec: metallbv1beta1.CommunitySpec{Communities: []metallbv1beta1.CommunityAlias{{Name: "no-export", Value: "1:1"}}}},
		},
		Ads: []metallbv1beta1.BGPAdvertisement{
			{ObjectMeta: metav1.ObjectMeta{Name: "all"}, Spec: metallbv1beta1.BGPAdvertisementSpec{Communities: []string{"no-export", "big", "65000:1"}, LocalPref: 100}},
			{ObjectMeta: metav1.ObjectMeta{Name: "agg-b"}, Spec: metallbv1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"pub"}, AggregationLength: i32(24), Peers: []string{"tor-b"},
				NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"rack": "b"}}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "bad-alias"}, Spec: metallbv1beta1.BGPAdvertisementSpec{Communities: []string{"nope"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "too-wide"}, Spec: metallbv1beta1.BGPAdvertisementSpec{IPAddressPools: []string{"small"}, AggregationLength: i32(24)}},
		},
	}
	c := BuildBGP(in, pools.Pools)

	var problems []string
	for _, p := range c.Problems {
		problems = append(problems, p.Kind+"/"+p.Object+": "+p.Message)
	}
	want := []string{"BGPAdvertisement/bad-alias", "BGPAdvertisement/too-wide", "BGPPeer/broken", "Community/c2"}
	if len(problems) != len(want) {
		t.Fatalf("problems %v", problems)
	}
	for i, w := range want {
		if !strings.HasPrefix(problems[i], w) {
			t.Errorf("problem %d = %q, want %s...", i, problems[i], w)
		}
	}
	if len(c.Unsupported) != 1 || c.Unsupported[0].Field != "spec.echoMode" {
		t.Errorf("unsupported %v", c.Unsupported)
	}
	if names := peerNames(c.PeersFor(map[string]string{"rack": "a"})); !reflect.DeepEqual(names, []string{"tor-a"}) {
		t.Errorf("rack a peers %v", names)
	}
	if names := peerNames(c.PeersFor(map[string]string{"rack": "b"})); !reflect.DeepEqual(names, []string{"tor-a", "tor-b"}) {
		t.Errorf("rack b peers %v", names)
	}
	pub := pools.Pools.Named("pub")
	ip := netip.MustParseAddr("198.18.0.7")
	routesB := c.BGPRoutesFor(ip, pub, map[string]string{"rack": "b"}, nil)
	if len(routesB) != 2 || routesB[0].Ad != "agg-b" || routesB[0].Prefix.String() != "198.18.0.0/24" || !reflect.DeepEqual(routesB[0].Peers, []string{"tor-b"}) {
		t.Fatalf("rack b routes %+v", routesB)
	}
	all := routesB[1]
	if all.Prefix.String() != "198.18.0.7/32" || all.LocalPref != 100 || !reflect.DeepEqual(all.Communities, []uint32{65000<<16 | 1, 65535<<16 | 65281}) ||
		!reflect.DeepEqual(all.LargeCommunities, []LargeCommunity{{1, 2, 3}}) {
		t.Fatalf("ad all route %+v", all)
	}
	if r := c.BGPRoutesFor(ip, pub, map[string]string{"rack": "a"}, nil); len(r) != 1 {
		t.Fatalf("rack a routes %+v", r)
	}
	v6 := c.BGPRoutesFor(netip.MustParseAddr("2001:db8:5::9"), pub, nil, nil)
	if len(v6) != 1 || v6[0].Prefix.String() != "2001:db8:5::9/128" {
		t.Fatalf("v6 routes %+v", v6)
	}
}

func peerNames(ps []BGPPeer) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}
