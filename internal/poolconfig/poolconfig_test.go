package poolconfig

import (
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

func names(r Result) string {
	var n []string
	for _, p := range r.Pools {
		n = append(n, p.Name)
	}
	return strings.Join(n, ",")
}

func TestBuild(t *testing.T) {
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
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			res, _ := Build(tc.pools, tc.last)
			if got := names(res); got != tc.wantPools {
				t.Fatalf("pools %q, want %q", got, tc.wantPools)
			}
			if tc.wantProblem == "" {
				if len(res.Problems) != 0 {
					t.Fatalf("unexpected problems %v", res.Problems)
				}
				return
			}
			if len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Message, tc.wantProblem) || res.Problems[0].KeptLastGood != tc.wantKept {
				t.Fatalf("problems %+v, want one containing %q (kept=%v)", res.Problems, tc.wantProblem, tc.wantKept)
			}
		})
	}
}
