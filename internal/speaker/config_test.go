package speaker

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
)

func poolObj(name string, age int, lbls map[string]string, addrs ...string) metallbv1beta1.IPAddressPool {
	return metallbv1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls, CreationTimestamp: metav1.NewTime(time.Unix(1_700_000_000, 0).Add(time.Duration(age) * time.Second))},
		Spec:       metallbv1beta1.IPAddressPoolSpec{Addresses: addrs},
	}
}

// The speaker reads pools through internal/config, as the controller does, so
// it agrees with the controller on which pool an IP is in. Before, it sorted
// pools by name and took the first holding the IP.
func TestSpeakerReadsPoolsAsTheController(t *testing.T) {
	const ip = "192.0.2.10"
	inUse := poolObj("prod", 0, map[string]string{"l2": "yes"}, "192.0.2.0/24")
	typo := poolObj("a-typo", 60, nil, "192.0.2.0/16")
	ad := metallbv1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: "l2"}, Spec: metallbv1beta1.L2AdvertisementSpec{IPAddressPools: []string{"prod"}}}
	badEdit := inUse
	badEdit.Spec.Addresses = []string{"192.0.2.300/24"}

	cases := map[string]struct {
		// rounds of objects, read in order with the LastGood carried over.
		rounds [][]metallbv1beta1.IPAddressPool
	}{
		"a newer overlapping pool whose name sorts first does not take the IP": {
			rounds: [][]metallbv1beta1.IPAddressPool{{inUse, typo}},
		},
		"the typo pool added later does not take the IP": {
			rounds: [][]metallbv1beta1.IPAddressPool{{inUse}, {typo, inUse}},
		},
		"a pool edited into a bad state keeps announcing with its last good spec": {
			rounds: [][]metallbv1beta1.IPAddressPool{{inUse}, {badEdit}, {badEdit}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var last config.LastGood
			var conf *config.Config
			for _, pools := range tc.rounds {
				conf, last = config.Build(config.Objects{Pools: pools, L2Ads: []metallbv1beta1.L2Advertisement{ad}}, last)
			}
			c := &Config{Self: owner(t, ip, all3...), Nodes: nodes(all3...), Pools: conf.Pools, Ads: conf.L2Ads, Services: []Service{svc("s", ip)}}
			r := Decide(c, all3, true)
			if got := result(t, r, "s"); got.Reason != "" || got.Node != c.Self {
				t.Fatalf("result %+v: the VIP is not announced", got)
			}
		})
	}
}
