package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

func pool(name string, age int, addrs ...string) metallbv1beta1.IPAddressPool {
	return metallbv1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(time.Unix(1_700_000_000, 0).Add(time.Duration(age) * time.Second))},
		Spec:       metallbv1beta1.IPAddressPoolSpec{Addresses: addrs},
	}
}

func names(ps Pools) string {
	var n []string
	for _, p := range ps {
		n = append(n, p.Name)
	}
	return strings.Join(n, ",")
}

func TestBuildPools(t *testing.T) {
	deleting := pool("deleting", 0, "192.0.2.0/28")
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Unix(1_700_000_100, 0)}
	cases := map[string]struct {
		pools       []metallbv1beta1.IPAddressPool
		last        LastGood
		wantPools   string
		wantProblem string // substring of the only problem, "" = none
		wantKept    bool
	}{
		"valid pools are all used": {
			pools:     []metallbv1beta1.IPAddressPool{pool("a", 0, "192.0.2.0/28"), pool("b", 1, "198.51.100.0/28")},
			wantPools: "a,b",
		},
		"the newer of two overlapping pools is left out": {
			pools:       []metallbv1beta1.IPAddressPool{pool("new", 5, "192.0.2.8-192.0.2.20"), pool("old", 1, "192.0.2.0/28")},
			wantPools:   "old",
			wantProblem: `overlap IPAddressPool "old"`,
		},
		"a newer overlapping pool whose name sorts first is left out (the typo pool)": {
			pools:       []metallbv1beta1.IPAddressPool{pool("zz-in-use", 0, "192.0.2.0/28"), pool("aa-typo", 9, "192.0.2.0/24")},
			wantPools:   "zz-in-use",
			wantProblem: `overlap IPAddressPool "zz-in-use"`,
		},
		"pools created in the same second: the name decides": {
			pools:       []metallbv1beta1.IPAddressPool{pool("b", 0, "192.0.2.0/28"), pool("a", 0, "192.0.2.0/28")},
			wantPools:   "a",
			wantProblem: `overlap IPAddressPool "a"`,
		},
		"pools created in the same second: the one in use wins over a newcomer whose name sorts first": {
			pools:       []metallbv1beta1.IPAddressPool{pool("dual", 0, "192.0.2.0/30"), pool("clash", 0, "192.0.2.2-192.0.2.5")},
			last:        LastGood{"dual": {Addresses: []string{"192.0.2.0/30"}}},
			wantPools:   "dual",
			wantProblem: `overlap IPAddressPool "dual"`,
		},
		"a bad address leaves only that pool out": {
			pools:       []metallbv1beta1.IPAddressPool{pool("good", 0, "192.0.2.0/28"), pool("bad", 1, "192.0.2.300/32")},
			wantPools:   "good",
			wantProblem: `"192.0.2.300/32"`,
		},
		"a pool edited into a bad state keeps its last good spec": {
			pools:       []metallbv1beta1.IPAddressPool{pool("edited", 0, "192.0.2.20-192.0.2.10")},
			last:        LastGood{"edited": {Addresses: []string{"192.0.2.0/28"}}},
			wantPools:   "edited",
			wantProblem: "start is after end",
			wantKept:    true,
		},
		"a pool edited to overlap keeps its last good spec": {
			pools:       []metallbv1beta1.IPAddressPool{pool("a", 0, "192.0.2.0/28"), pool("b", 1, "192.0.2.0/27")},
			last:        LastGood{"b": {Addresses: []string{"198.51.100.0/28"}}},
			wantPools:   "a,b",
			wantProblem: "overlap",
			wantKept:    true,
		},
		"a pool being deleted is not used": {
			pools:     []metallbv1beta1.IPAddressPool{deleting, pool("b", 1, "192.0.2.0/28")},
			wantPools: "b",
		},
		"a bad serviceAllocation selector names the field": {
			pools: []metallbv1beta1.IPAddressPool{func() metallbv1beta1.IPAddressPool {
				p := pool("sel", 0, "192.0.2.0/28")
				p.Spec.AllocateTo = &metallbv1beta1.ServiceAllocation{ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"bad key!": "x"}}}}
				return p
			}()},
			wantPools:   "",
			wantProblem: "spec.serviceAllocation.serviceSelectors[0]",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			res, _ := BuildPools(tc.pools, tc.last)
			if got := names(res.Pools); got != tc.wantPools {
				t.Fatalf("pools %q, want %q", got, tc.wantPools)
			}
			if tc.wantProblem == "" {
				if len(res.Problems) != 0 {
					t.Fatalf("unexpected problems %v", res.Problems)
				}
				return
			}
			if len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Message, tc.wantProblem) || res.Problems[0].KeptLastGood != tc.wantKept || res.Problems[0].Kind != KindIPAddressPool {
				t.Fatalf("problems %+v, want one containing %q (kept=%v)", res.Problems, tc.wantProblem, tc.wantKept)
			}
		})
	}
}

// The last good spec survives any number of bad rebuilds, and a pool that was
// never good has none.
func TestLastGoodAcrossCalls(t *testing.T) {
	good := pool("p", 0, "192.0.2.0/28")
	bad := pool("p", 0, "192.0.2.20-192.0.2.10")
	_, last := BuildPools([]metallbv1beta1.IPAddressPool{good}, nil)
	for i := range 3 {
		var res PoolsResult
		res, last = BuildPools([]metallbv1beta1.IPAddressPool{bad}, last)
		if len(res.Pools) != 1 || !res.Pools[0].KeptLastGood || res.Pools[0].Spec.Addresses[0] != "192.0.2.0/28" {
			t.Fatalf("round %d: pools %+v", i, res.Pools)
		}
	}
	res, _ := BuildPools([]metallbv1beta1.IPAddressPool{bad}, nil)
	if len(res.Pools) != 0 {
		t.Fatalf("a pool never good is used: %+v", res.Pools)
	}
}

func TestPoolsOf(t *testing.T) {
	res, _ := BuildPools([]metallbv1beta1.IPAddressPool{
		pool("v4", 0, "192.0.2.0/24"), pool("v6", 1, "2001:db8::/64"), pool("both", 2, "198.51.100.0/24", "2001:db8:1::/64"),
		pool("aa-typo", 3, "192.0.2.0/25"),
	}, nil)
	cases := map[string]struct {
		ips  []string
		want string // "" = nil
	}{
		"an IP in one pool": {ips: []string{"192.0.2.1"}, want: "v4"},
		"an IP in an overlapping newer pool belongs to the older": {ips: []string{"192.0.2.3"}, want: "v4"},
		"a dual-stack pair in one pool":                           {ips: []string{"198.51.100.1", "2001:db8:1::1"}, want: "both"},
		"a pair split over two pools is in none":                  {ips: []string{"192.0.2.1", "2001:db8::1"}, want: ""},
		"an IP in no pool":                                        {ips: []string{"203.0.113.1"}, want: ""},
		"no IP":                                                   {ips: nil, want: ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var ips []netip.Addr
			for _, s := range tc.ips {
				ips = append(ips, netip.MustParseAddr(s))
			}
			got := ""
			if p := res.Pools.Of(ips...); p != nil {
				got = p.Name
			}
			if got != tc.want {
				t.Fatalf("Of(%v) = %q, want %q", tc.ips, got, tc.want)
			}
		})
	}
}
