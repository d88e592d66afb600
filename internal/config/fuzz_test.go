package config

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

// FuzzBuild feeds arbitrary addresses, selectors and interface names through
// Build: it must never panic, every object is either used or reported, and the
// pools in use never overlap.
func FuzzBuild(f *testing.F) {
	f.Add("192.0.2.0/28,192.0.2.8-192.0.2.20", "198.51.100.0/24", "tier", "gold", "eth0,eth1")
	f.Add("2001:db8::/64", "2001:db8::1-2001:db8::5", "a b", "", "")
	f.Add("192.0.2.300/32", "::/0", "k/../x", "v!", "eth0,a/b,")
	f.Fuzz(func(t *testing.T, addrA, addrB, key, value, ifaces string) {
		sel := []metav1.LabelSelector{{MatchLabels: map[string]string{key: value}}}
		in := Objects{
			Pools: []metallbv1beta1.IPAddressPool{
				pool("a", 0, strings.Split(addrA, ",")...),
				pool("b", 1, strings.Split(addrB, ",")...),
			},
			L2Ads: []metallbv1beta1.L2Advertisement{
				l2ad("ad", metallbv1beta1.L2AdvertisementSpec{IPAddressPoolSelectors: sel, NodeSelectors: sel, ServiceSelectors: sel, Interfaces: strings.Split(ifaces, ",")}),
			},
		}
		in.Pools[1].Labels = map[string]string{key: value}
		cfg, last := Build(in, nil)
		if len(cfg.Pools)+len(cfg.L2Ads)+len(cfg.Problems) != 3 {
			t.Fatalf("objects lost: %+v", cfg)
		}
		if len(cfg.Pools) == 2 && overlapping(cfg.Pools[1].Pool, cfg.Pools[:1]) != nil {
			t.Fatalf("overlapping pools in use: %+v", cfg.Pools)
		}
		for _, p := range cfg.Problems {
			if p.Message == "" || p.Object == "" {
				t.Fatalf("problem without a message: %+v", p)
			}
		}
		// A second build from the same objects means the same.
		again, _ := Build(in, last)
		if names(again.Pools) != names(cfg.Pools) || len(again.L2Ads) != len(cfg.L2Ads) {
			t.Fatalf("not stable: %s vs %s", names(again.Pools), names(cfg.Pools))
		}
	})
}
