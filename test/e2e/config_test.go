package e2e

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/rendezvous"
	"github.com/ironlb/ironlb/test/lab"
)

// TestOverlappingTypoPool: a newer IPAddressPool whose name sorts first and
// overlaps the pool in use (a typo) must not take the IP away. The controller
// keeps the IP in the older pool; the speakers must read the pools the same
// way (internal/config) and keep answering. Before, the speakers took the
// first pool by name, found no L2Advertisement for it, and the VIP went dark.
func TestOverlappingTypoPool(t *testing.T) {
	l := getLab(t)
	ctx := ctxT(t)
	createPool(t, l, "zz-e2e-inuse", nil, "192.0.2.231/32")
	createAd(t, l, "zz-e2e-inuse", metallbv1beta1.L2AdvertisementSpec{IPAddressPools: []string{"zz-e2e-inuse"}})
	_, ip := service(t, l, "e2e-typo", "zz-e2e-inuse", 80, l.AllNodes(), nil)
	owner := announcer(t, l, ip)

	// Creation timestamps have a resolution of one second and equal ones are
	// ordered by name: make the typo pool strictly newer, as in real life.
	var inUse metallbv1beta1.IPAddressPool
	if err := l.Kube().Get(ctx, client.ObjectKey{Namespace: lab.Namespace, Name: "zz-e2e-inuse"}, &inUse); err != nil {
		t.Fatal(err)
	}
	for time.Since(inUse.CreationTimestamp.Time) < 1100*time.Millisecond {
		time.Sleep(100 * time.Millisecond)
	}
	createPool(t, l, "aa-e2e-typo", nil, "192.0.2.231/32")

	// The VIP keeps being answered, by the same node, while the typo pool
	// reaches everyone: first the controller reports it (so it is in the API
	// and the speakers' caches are about to see it), then every speaker.
	stillAnswered := func(rounds int) {
		t.Helper()
		for r := 0; r < rounds; r++ {
			got, err := l.Announcers(ip)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, []int{owner}) {
				t.Fatalf("round %d: %s answered by %v, want only %s: the typo pool took the VIP down", r, ip, got, lab.NodeName(owner))
			}
		}
	}
	eventually(t, settle, "ConfigurationState controller names aa-e2e-typo", func() (bool, string) {
		var cs metallbv1beta1.ConfigurationState
		if err := l.Kube().Get(ctx, client.ObjectKey{Namespace: lab.Namespace, Name: "controller"}, &cs); err != nil {
			return false, err.Error()
		}
		return strings.Contains(cs.Status.ErrorSummary, "aa-e2e-typo"), cs.Status.ErrorSummary
	})
	stillAnswered(10)
	// Every speaker has read the typo pool: it reports the overlap too.
	for _, i := range l.AllNodes() {
		eventually(t, settle, "ConfigurationState speaker-"+lab.NodeName(i)+" names aa-e2e-typo", func() (bool, string) {
			return configState(ctx, l, i, metallbv1beta1.ConfigurationStateResultInvalid, "aa-e2e-typo")
		})
	}
	stillAnswered(5)
	dialedBy(t, l, ip, 80, owner)
}

// TestSharedDualStackIP: a dual-stack Service [X4, Y6] shares Y6 (same
// allow-shared-ip key) with an IPv6-only Service. Exactly one node answers NDP
// for Y6, and it is the node answering ARP for X4. Y6 is chosen so that an
// election on Y6 alone picks another node than one on X4: before, the two
// Services were decided apart and two nodes answered for Y6.
func TestSharedDualStackIP(t *testing.T) {
	l := getLab(t)
	const x4 = "192.0.2.232"
	var names []string
	for _, i := range l.AllNodes() {
		names = append(names, lab.NodeName(i))
	}
	ownerX4, _ := rendezvous.Owner(netip.MustParseAddr(x4), names)
	y6 := ""
	for i := 0x2e0; i < 0x2ff && y6 == ""; i++ {
		cand := fmt.Sprintf("2001:db8::%x", i)
		if o, _ := rendezvous.Owner(netip.MustParseAddr(cand), names); o != ownerX4 {
			y6 = cand
		}
	}
	if y6 == "" {
		t.Fatal("no IPv6 address elected apart from " + x4)
	}
	createPool(t, l, "e2e-dsshare", nil, x4+"/32", y6+"/128")
	createAd(t, l, "e2e-dsshare", metallbv1beta1.L2AdvertisementSpec{IPAddressPools: []string{"e2e-dsshare"}})
	_, got4 := service(t, l, "e2e-dsshare-ds", "e2e-dsshare", 80, l.AllNodes(), func(s *corev1.Service) {
		s.Annotations["metallb.io/allow-shared-ip"] = "e2e-dsshare"
		s.Annotations["metallb.io/loadBalancerIPs"] = x4 + "," + y6
		s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicyRequireDualStack)
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	})
	_, got6 := service(t, l, "e2e-dsshare-v6", "e2e-dsshare", 8080, l.AllNodes(), func(s *corev1.Service) {
		s.Annotations["metallb.io/allow-shared-ip"] = "e2e-dsshare"
		s.Annotations["metallb.io/loadBalancerIPs"] = y6
		s.Spec.IPFamilyPolicy = ptr.To(corev1.IPFamilyPolicySingleStack)
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	})
	if got4 != x4 || got6 != y6 {
		t.Fatalf("IPs %s and %s, want %s and %s", got4, got6, x4, y6)
	}
	owner := announcer(t, l, x4)
	announcedBy(t, l, y6, owner) // fails at once if two nodes answer
	mac, _ := l.Net.NodeMAC(owner)
	for r := 0; r < 3; r++ {
		macs, err := l.Net.Ndisc6(y6, "") // the real tool too
		if err != nil || !slices.Equal(macs, []string{mac}) {
			t.Fatalf("round %d: ndisc6 %s: %v %v, want only %s (%s, the owner of %s)", r, y6, macs, err, mac, lab.NodeName(owner), x4)
		}
		got, err := l.Announcers(x4)
		if err != nil || !slices.Equal(got, []int{owner}) {
			t.Fatalf("round %d: %s answered by %v %v, want %s", r, x4, got, err, lab.NodeName(owner))
		}
	}
	dialedBy(t, l, y6, 8080, owner)
	dialedBy(t, l, x4, 80, owner)
}
