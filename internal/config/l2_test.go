package config

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

func l2ad(name string, spec metallbv1beta1.L2AdvertisementSpec) metallbv1beta1.L2Advertisement {
	return metallbv1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
}

func TestParseL2Ad(t *testing.T) {
	badSel := []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Bogus"}}}}
	cases := map[string]struct {
		spec    metallbv1beta1.L2AdvertisementSpec
		wantErr string
	}{
		"empty is valid":                         {},
		"interfaces are sorted and deduplicated": {spec: metallbv1beta1.L2AdvertisementSpec{Interfaces: []string{"eth1", "eth0", "eth1"}}},
		"a bad interface name names its index":   {spec: metallbv1beta1.L2AdvertisementSpec{Interfaces: []string{"eth0", "a/b"}}, wantErr: "spec.interfaces[1]"},
		"a too long interface name":              {spec: metallbv1beta1.L2AdvertisementSpec{Interfaces: []string{"abcdefghijklmnop"}}, wantErr: "longer than 15"},
		"a bad pool selector names the field":    {spec: metallbv1beta1.L2AdvertisementSpec{IPAddressPoolSelectors: badSel}, wantErr: "spec.ipAddressPoolSelectors[0]"},
		"a bad node selector names the field":    {spec: metallbv1beta1.L2AdvertisementSpec{NodeSelectors: badSel}, wantErr: "spec.nodeSelectors[0]"},
		"a bad service selector names the field": {spec: metallbv1beta1.L2AdvertisementSpec{ServiceSelectors: badSel}, wantErr: "spec.serviceSelectors[0]"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			a := l2ad("ad", tc.spec)
			got, err := ParseL2Ad(&a)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(tc.spec.Interfaces) > 0 && strings.Join(got.Interfaces, ",") != "eth0,eth1" {
				t.Fatalf("interfaces %v", got.Interfaces)
			}
		})
	}
}

func TestBuildReportsBadObjectsAndKeepsTheRest(t *testing.T) {
	deleting := l2ad("deleting", metallbv1beta1.L2AdvertisementSpec{})
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
	cfg, _ := Build(Objects{
		Pools: []metallbv1beta1.IPAddressPool{pool("good", 0, "192.0.2.0/28"), pool("bad", 1, "nonsense")},
		L2Ads: []metallbv1beta1.L2Advertisement{
			l2ad("z", metallbv1beta1.L2AdvertisementSpec{}),
			l2ad("bad", metallbv1beta1.L2AdvertisementSpec{Interfaces: []string{""}}),
			l2ad("a", metallbv1beta1.L2AdvertisementSpec{IPAddressPools: []string{"good"}}),
			deleting,
		},
	}, nil)
	if names(cfg.Pools) != "good" {
		t.Fatalf("pools %s", names(cfg.Pools))
	}
	var ads []string
	for _, a := range cfg.L2Ads {
		ads = append(ads, a.Name)
	}
	if strings.Join(ads, ",") != "a,z" {
		t.Fatalf("ads %v, want a,z", ads)
	}
	var probs []string
	for _, p := range cfg.Problems {
		probs = append(probs, p.Kind+"/"+p.Object)
	}
	if strings.Join(probs, ",") != "IPAddressPool/bad,L2Advertisement/bad" {
		t.Fatalf("problems %v", probs)
	}
}

func TestSelection(t *testing.T) {
	gold := &Pool{Labels: map[string]string{"tier": "gold"}}
	gold.Name = "gold"
	tin := &Pool{Labels: map[string]string{"tier": "tin"}}
	tin.Name = "tin"
	cases := map[string]struct {
		fields            SelectorFields
		wantGold          bool
		wantTin           bool
		node, svc         map[string]string
		wantNode, wantSvc bool
	}{
		"nothing set selects every pool, node and Service": {wantGold: true, wantTin: true, wantNode: true, wantSvc: true},
		"a pool by name": {fields: SelectorFields{IPAddressPools: []string{"tin"}}, wantTin: true, wantNode: true, wantSvc: true},
		"names and selectors are ORed": {
			fields:   SelectorFields{IPAddressPools: []string{"tin"}, IPAddressPoolSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "gold"}}}},
			wantGold: true, wantTin: true, wantNode: true, wantSvc: true,
		},
		"a pool selector matching nothing selects no pool": {
			fields:   SelectorFields{IPAddressPoolSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "lead"}}}},
			wantNode: true, wantSvc: true,
		},
		"node and service selectors": {
			fields: SelectorFields{NodeSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"zone": "a"}}}, ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"app": "x"}}}},
			node:   map[string]string{"zone": "a"}, svc: map[string]string{"app": "y"},
			wantGold: true, wantTin: true, wantNode: true, wantSvc: false,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := ParseSelection(tc.fields)
			if err != nil {
				t.Fatal(err)
			}
			if s.SelectsPool(gold) != tc.wantGold || s.SelectsPool(tin) != tc.wantTin || s.SelectsNode(tc.node) != tc.wantNode || s.SelectsService(tc.svc) != tc.wantSvc {
				t.Fatalf("gold %v tin %v node %v svc %v", s.SelectsPool(gold), s.SelectsPool(tin), s.SelectsNode(tc.node), s.SelectsService(tc.svc))
			}
		})
	}
}
