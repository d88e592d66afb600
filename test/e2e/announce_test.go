package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/test/lab"
	"github.com/ironlb/ironlb/test/netlab"
)

// TestDemoAnswers: the lab's dual-stack Service "demo" is announced by one
// node on both families (arping, ndisc6, the client's neighbour table), TCP
// reaches that node, and the speaker reports it (ServiceL2Status, event).
func TestDemoAnswers(t *testing.T) {
	l := getLab(t)
	ctx := ctxT(t)
	ips, err := l.WaitServiceIPs(ctx, "default", lab.DemoSvc, 2, settle)
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := ips[0], ips[1]
	if strings.Contains(v4, ":") || !strings.Contains(v6, ":") {
		t.Fatalf("demo IPs %v: want IPv4 then IPv6", ips)
	}
	owner := announcer(t, l, v4)
	mac, _ := l.Net.NodeMAC(owner)
	t.Logf("%s and %s: owner %s (%s)", v4, v6, lab.NodeName(owner), mac)

	t.Run("IPv4 arping", func(t *testing.T) {
		announcedBy(t, l, v4, owner)
		macs, err := l.Net.Arping(v4) // the real tool too
		if err != nil || !slices.Equal(macs, []string{mac}) {
			t.Fatalf("arping %s: %v %v, want [%s]", v4, macs, err, mac)
		}
	})
	t.Run("IPv6 ndisc6", func(t *testing.T) {
		// Dual-stack Services are elected on their first IP: same node.
		announcedBy(t, l, v6, owner)
		macs, err := l.Net.Ndisc6(v6, "")
		if err != nil || !slices.Equal(macs, []string{mac}) {
			t.Fatalf("ndisc6 %s: %v %v, want [%s]", v6, macs, err, mac)
		}
	})
	t.Run("client neighbour table", func(t *testing.T) {
		for _, ip := range ips {
			eventually(t, settle, "client neigh "+ip, func() (bool, string) {
				got, err := l.Net.ClientResolve(ip)
				return err == nil && got == mac, fmt.Sprintf("%q %v", got, err)
			})
		}
	})
	t.Run("TCP", func(t *testing.T) {
		dialedBy(t, l, v4, 80, owner)
		dialedBy(t, l, v6, 80, owner)
	})
	t.Run("ServiceL2Status", func(t *testing.T) {
		eventually(t, settle, "one ServiceL2Status naming "+lab.NodeName(owner), func() (bool, string) {
			st, err := l.ServiceL2Statuses(ctx, "default", lab.DemoSvc)
			if err != nil {
				return false, err.Error()
			}
			_, ok := st[lab.NodeName(owner)]
			return ok && len(st) == 1, fmt.Sprint(st)
		})
	})
	t.Run("nodeAssigned event", func(t *testing.T) {
		want := fmt.Sprintf("announcing from node %q with protocol %q", lab.NodeName(owner), "layer2")
		eventually(t, settle, "event nodeAssigned "+want, func() (bool, string) {
			return hasEvent(ctx, l, lab.DemoSvc, "nodeAssigned", want)
		})
	})
	t.Run("speakers publish interfaces", func(t *testing.T) {
		for _, i := range l.AllNodes() {
			eventually(t, settle, lab.NodeName(i)+" interfaces annotation", func() (bool, string) {
				var n corev1.Node
				if err := l.Kube().Get(ctx, client.ObjectKey{Name: lab.NodeName(i)}, &n); err != nil {
					return false, err.Error()
				}
				v, ok := n.Annotations["ironlb.io/l2-interfaces"]
				return ok && strings.Contains(v, netlab.DataIface), fmt.Sprint(n.Annotations)
			})
		}
	})
}

// TestNodeSelector: an L2Advertisement's nodeSelectors decide which nodes
// may announce; changing them moves the IP.
func TestNodeSelector(t *testing.T) {
	l := getLab(t)
	createPool(t, l, "e2e-nodesel", nil, "192.0.2.221/32")
	ad := createAd(t, l, "e2e-nodesel", metallbv1beta1.L2AdvertisementSpec{
		IPAddressPools: []string{"e2e-nodesel"},
		NodeSelectors:  []metav1.LabelSelector{sel(lab.NodeIndexLabel, "3")},
	})
	_, ip := service(t, l, "e2e-nodesel", "e2e-nodesel", 80, l.AllNodes(), nil)
	announcedBy(t, l, ip, 3)
	dialedBy(t, l, ip, 80, 3)

	ad.Spec.NodeSelectors = []metav1.LabelSelector{sel(lab.NodeIndexLabel, "2")}
	if err := l.Kube().Update(ctxT(t), ad); err != nil {
		t.Fatal(err)
	}
	announcedBy(t, l, ip, 2)
	dialedBy(t, l, ip, 80, 2)

	ad.Spec.NodeSelectors = []metav1.LabelSelector{sel(lab.NodeIndexLabel, "7")} // no such node
	if err := l.Kube().Update(ctxT(t), ad); err != nil {
		t.Fatal(err)
	}
	announcedBy(t, l, ip, 0)
}

// TestPoolSelector: a pool with no L2Advertisement is not announced; an ad
// selecting the pool by label makes it announced.
func TestPoolSelector(t *testing.T) {
	l := getLab(t)
	createPool(t, l, "e2e-poolsel", map[string]string{"e2e": "poolsel"}, "192.0.2.222/32")
	_, ip := service(t, l, "e2e-poolsel", "e2e-poolsel", 80, l.AllNodes(), nil)
	// Positive control first: the demo is announced, so speakers are working.
	demo4, _ := demoIPs(t, l)
	announcer(t, l, demo4)
	silent(t, l, ip, 5)

	createAd(t, l, "e2e-poolsel-other", metallbv1beta1.L2AdvertisementSpec{
		IPAddressPoolSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"e2e": "nothing"}}},
	})
	createAd(t, l, "e2e-poolsel", metallbv1beta1.L2AdvertisementSpec{
		IPAddressPoolSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"e2e": "poolsel"}}},
		NodeSelectors:          []metav1.LabelSelector{sel(lab.NodeIndexLabel, "1")},
	})
	announcedBy(t, l, ip, 1)
	dialedBy(t, l, ip, 80, 1)
}

// TestServiceSelector: an ad with serviceSelectors announces only the
// Services whose labels match.
func TestServiceSelector(t *testing.T) {
	l := getLab(t)
	createPool(t, l, "e2e-svcsel", nil, "192.0.2.223-192.0.2.224")
	createAd(t, l, "e2e-svcsel", metallbv1beta1.L2AdvertisementSpec{
		IPAddressPools:   []string{"e2e-svcsel"},
		ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"e2e": "announce-me"}}},
	})
	_, yes := service(t, l, "e2e-svcsel-yes", "e2e-svcsel", 80, l.AllNodes(), func(s *corev1.Service) {
		s.Labels = map[string]string{"e2e": "announce-me"}
	})
	_, no := service(t, l, "e2e-svcsel-no", "e2e-svcsel", 80, l.AllNodes(), nil)
	owner := announcer(t, l, yes)
	dialedBy(t, l, yes, 80, owner)
	silent(t, l, no, 5)

	// Labelling the second Service makes it announced too.
	var s corev1.Service
	ctx := ctxT(t)
	if err := l.Kube().Get(ctx, client.ObjectKey{Namespace: "default", Name: "e2e-svcsel-no"}, &s); err != nil {
		t.Fatal(err)
	}
	s.Labels = map[string]string{"e2e": "announce-me"}
	if err := l.Kube().Update(ctx, &s); err != nil {
		t.Fatal(err)
	}
	announcer(t, l, no)
}

// TestInterfaces: an ad limited to eth1 (the management network) is
// answered there and not on the data network; limited to eth0 the reverse;
// an excluded interface (docker0) on the data segment never answers; an ad
// naming an interface no node has announces nothing.
func TestInterfaces(t *testing.T) {
	l := getLab(t)
	createPool(t, l, "e2e-iface", nil, "192.0.2.225/32")
	ad := createAd(t, l, "e2e-iface", metallbv1beta1.L2AdvertisementSpec{
		IPAddressPools: []string{"e2e-iface"},
		Interfaces:     []string{netlab.DataIface},
	})
	_, ip := service(t, l, "e2e-iface", "e2e-iface", 80, l.AllNodes(), nil)
	ctx := ctxT(t)

	// docker0 on every node, attached to the data segment: excluded by
	// default, it must stay silent although it sees the requests.
	dockerMACs := map[string]bool{}
	for _, i := range l.AllNodes() {
		mac, err := l.Net.AddNodeLink(i, "docker0")
		if err != nil {
			t.Fatal(err)
		}
		dockerMACs[mac] = true
	}
	owner := announcer(t, l, ip)
	mgmtAnswers := func() []string {
		out, _ := l.Net.Run(l.Net.APIServerNS, "arping", "-i", "eth0", "-c", "3", "-W", "0.2", "-w", "1", ip)
		return parseMACs(out)
	}
	for r := 0; r < 3; r++ {
		macs, err := l.Net.Arping(ip)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range macs {
			if dockerMACs[m] {
				t.Fatalf("excluded docker0 (%s) answered for %s", m, ip)
			}
		}
		if got := mgmtAnswers(); len(got) != 0 {
			t.Fatalf("ad limited to eth0, yet %s answered on the management network by %v", ip, got)
		}
	}
	eventually(t, settle, "ServiceL2Status lists eth0", func() (bool, string) {
		st, err := l.ServiceL2Statuses(ctx, "default", "e2e-iface")
		return err == nil && slices.Equal(st[lab.NodeName(owner)], []string{netlab.DataIface}), fmt.Sprint(st, err)
	})

	// Only eth1: answered on the management network with the node's eth1 MAC.
	ad.Spec.Interfaces = []string{netlab.MgmtIface}
	if err := l.Kube().Update(ctx, ad); err != nil {
		t.Fatal(err)
	}
	announcedBy(t, l, ip, 0)
	eventually(t, settle, ip+" answered on the management network", func() (bool, string) {
		got := mgmtAnswers()
		if len(got) != 1 {
			return false, fmt.Sprint(got)
		}
		for _, i := range l.AllNodes() {
			if m, _ := l.Net.IfaceMAC(l.Net.NodeNS(i), netlab.MgmtIface); m == got[0] {
				return true, ""
			}
		}
		return false, "unknown MAC " + got[0]
	})

	// An interface nobody has: nobody announces (ironlb elects only among
	// nodes that have the interface; MetalLB would elect one and fail).
	ad.Spec.Interfaces = []string{"nosuch0"}
	if err := l.Kube().Update(ctx, ad); err != nil {
		t.Fatal(err)
	}
	eventually(t, settle, ip+" answered nowhere", func() (bool, string) {
		got := mgmtAnswers()
		return len(got) == 0, fmt.Sprint(got)
	})
	silent(t, l, ip, 1)
}

// parseMACs extracts the MACs of arping replies (both arping flavours).
func parseMACs(text string) []string {
	set := map[string]bool{}
	for _, line := range strings.Split(strings.ToLower(text), "\n") {
		if !strings.Contains(line, "bytes from") && !strings.Contains(line, "reply from") {
			continue
		}
		for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '[' || r == ']' || r == '(' || r == ')' }) {
			if len(f) == 17 && strings.Count(f, ":") == 5 {
				set[f] = true
			}
		}
	}
	macs := make([]string, 0, len(set))
	for m := range set {
		macs = append(macs, m)
	}
	slices.Sort(macs)
	return macs
}

// TestExternalTrafficPolicyLocal: only nodes with a local serving endpoint
// may announce, and the IP follows the endpoints.
func TestExternalTrafficPolicyLocal(t *testing.T) {
	l := getLab(t)
	createPool(t, l, "e2e-local", nil, "192.0.2.226/32")
	createAd(t, l, "e2e-local", metallbv1beta1.L2AdvertisementSpec{IPAddressPools: []string{"e2e-local"}})
	_, ip := service(t, l, "e2e-local", "e2e-local", 80, []int{2}, func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	})
	announcedBy(t, l, ip, 2)
	dialedBy(t, l, ip, 80, 2)

	ctx := ctxT(t)
	if err := l.SetEndpoints(ctx, "default", "e2e-local", []int{3}); err != nil {
		t.Fatal(err)
	}
	announcedBy(t, l, ip, 3)

	if err := l.SetEndpoints(ctx, "default", "e2e-local", []int{1, 3}); err != nil {
		t.Fatal(err)
	}
	if n := announcer(t, l, ip); n != 1 && n != 3 {
		t.Fatalf("announced by %s, which has no endpoint", lab.NodeName(n))
	}

	// No endpoint at all: nobody announces.
	if err := l.SetEndpoints(ctx, "default", "e2e-local", nil); err != nil {
		t.Fatal(err)
	}
	announcedBy(t, l, ip, 0)
}

// TestExcludeLabel: node.kubernetes.io/exclude-from-external-load-balancers
// on the announcing node moves the IP away; removing it makes the node
// eligible again.
func TestExcludeLabel(t *testing.T) {
	l := getLab(t)
	createPool(t, l, "e2e-exclude", nil, "192.0.2.227/32")
	createAd(t, l, "e2e-exclude", metallbv1beta1.L2AdvertisementSpec{IPAddressPools: []string{"e2e-exclude"}})
	_, ip := service(t, l, "e2e-exclude", "e2e-exclude", 80, l.AllNodes(), nil)
	owner := announcer(t, l, ip)
	const key = corev1.LabelNodeExcludeBalancers
	patchNodeLabel(t, l, owner, key, ptr.To(""))
	t.Cleanup(func() { patchNodeLabel(t, l, owner, key, nil) })
	eventually(t, settle, ip+" moves off the excluded "+lab.NodeName(owner), func() (bool, string) {
		got, err := l.Announcers(ip)
		if err != nil {
			return false, err.Error()
		}
		if len(got) > 1 {
			t.Fatalf("two announcers: %v", got)
		}
		return len(got) == 1 && got[0] != owner && got[0] > 0, fmt.Sprint(got)
	})
	patchNodeLabel(t, l, owner, key, nil)
	announcedBy(t, l, ip, owner) // the election's favourite again
}

// TestSharedIP: two Services sharing one IP (allow-shared-ip, different
// ports) are announced from one node, which serves both ports.
func TestSharedIP(t *testing.T) {
	l := getLab(t)
	createPool(t, l, "e2e-shared", nil, "192.0.2.228/32")
	createAd(t, l, "e2e-shared", metallbv1beta1.L2AdvertisementSpec{IPAddressPools: []string{"e2e-shared"}})
	share := func(s *corev1.Service) {
		s.Annotations["metallb.io/allow-shared-ip"] = "e2e"
		s.Annotations["metallb.io/loadBalancerIPs"] = "192.0.2.228"
		s.Spec.IPFamilyPolicy = nil
		s.Spec.IPFamilies = nil
	}
	_, ipA := service(t, l, "e2e-shared-a", "e2e-shared", 80, l.AllNodes(), share)
	_, ipB := service(t, l, "e2e-shared-b", "e2e-shared", 8080, l.AllNodes(), share)
	if ipA != ipB {
		t.Fatalf("not shared: %s vs %s", ipA, ipB)
	}
	owner := announcer(t, l, ipA)
	dialedBy(t, l, ipA, 80, owner)
	dialedBy(t, l, ipA, 8080, owner)
	ctx := ctxT(t)
	for _, name := range []string{"e2e-shared-a", "e2e-shared-b"} {
		eventually(t, settle, name+" status on "+lab.NodeName(owner), func() (bool, string) {
			st, err := l.ServiceL2Statuses(ctx, "default", name)
			_, ok := st[lab.NodeName(owner)]
			return err == nil && ok && len(st) == 1, fmt.Sprint(st, err)
		})
	}
}

// TestBadConfig: an L2Advertisement with an invalid selector is reported
// (ConfigurationState speaker-<node> Invalid naming it, a Warning event on
// it) and does not stop the valid configuration: existing announcements
// continue and a new Service on a valid pool is still announced. Deleting
// it makes every speaker Valid again.
func TestBadConfig(t *testing.T) {
	l := getLab(t)
	ctx := ctxT(t)
	demo4, _ := demoIPs(t, l)
	owner := announcer(t, l, demo4)

	createPool(t, l, "e2e-bad", nil, "192.0.2.229/32")
	bad := createAd(t, l, "e2e-bad", metallbv1beta1.L2AdvertisementSpec{
		IPAddressPools: []string{"e2e-bad"},
		NodeSelectors: []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "kubernetes.io/hostname", Operator: "NotAnOperator", Values: []string{"x"}},
		}}},
	})
	for _, i := range l.AllNodes() {
		eventually(t, settle, "ConfigurationState speaker-"+lab.NodeName(i)+" Invalid, naming e2e-bad", func() (bool, string) {
			return configState(ctx, l, i, metallbv1beta1.ConfigurationStateResultInvalid, "e2e-bad")
		})
	}
	eventually(t, settle, "Warning event on L2Advertisement e2e-bad", func() (bool, string) {
		var evs corev1.EventList
		if err := l.Kube().List(ctx, &evs, client.InNamespace(lab.Namespace)); err != nil {
			return false, err.Error()
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Kind == "L2Advertisement" && e.InvolvedObject.Name == "e2e-bad" && e.Type == corev1.EventTypeWarning {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, none on e2e-bad", len(evs.Items))
	})
	announcedBy(t, l, demo4, owner)
	dialedBy(t, l, demo4, 80, owner)

	createPool(t, l, "e2e-good", nil, "192.0.2.230/32")
	createAd(t, l, "e2e-good", metallbv1beta1.L2AdvertisementSpec{IPAddressPools: []string{"e2e-good"}})
	_, ip := service(t, l, "e2e-good", "e2e-good", 80, l.AllNodes(), nil)
	n := announcer(t, l, ip)
	dialedBy(t, l, ip, 80, n)

	if err := l.Kube().Delete(ctx, bad); err != nil {
		t.Fatal(err)
	}
	for _, i := range l.AllNodes() {
		eventually(t, settle, "ConfigurationState speaker-"+lab.NodeName(i)+" Valid again", func() (bool, string) {
			return configState(ctx, l, i, metallbv1beta1.ConfigurationStateResultValid, "")
		})
	}
}

// configState checks ConfigurationState speaker-node-<i>: result want and,
// when substr is set, an errorSummary containing it.
func configState(ctx context.Context, l *lab.Lab, i int, want metallbv1beta1.ConfigurationStateResult, substr string) (bool, string) {
	var cs metallbv1beta1.ConfigurationState
	if err := l.Kube().Get(ctx, client.ObjectKey{Namespace: lab.Namespace, Name: "speaker-" + lab.NodeName(i)}, &cs); err != nil {
		return false, err.Error()
	}
	return cs.Status.Result == want && strings.Contains(cs.Status.ErrorSummary, substr),
		fmt.Sprintf("result %q, errorSummary %q", cs.Status.Result, cs.Status.ErrorSummary)
}
