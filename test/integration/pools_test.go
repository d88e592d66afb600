package integration

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/controller/speakersecret"
)

func dualStack(policy corev1.IPFamilyPolicy, fams ...corev1.IPFamily) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.IPFamilyPolicy = &policy
		s.Spec.IPFamilies = fams
	}
}

func TestDualStackServiceGetsBothFamiliesFromOnePool(t *testing.T) {
	f := newFixture(t)
	f.pool("v4only", []string{"192.0.2.0/29"})
	f.pool("dual", []string{"198.51.100.0/29", "2001:db8:2::/120"})
	f.start()
	f.service("both", dualStack(corev1.IPFamilyPolicyRequireDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol))
	f.waitIPs("both", "198.51.100.0", "2001:db8:2::")
	f.service("v6", dualStack(corev1.IPFamilyPolicySingleStack, corev1.IPv6Protocol))
	f.waitIPs("v6", "2001:db8:2::1")
	f.service("prefer", dualStack(corev1.IPFamilyPolicyPreferDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol))
	f.waitIPs("prefer", "198.51.100.1", "2001:db8:2::2")
}

func TestRequestedIPOfWrongFamilyIsRefused(t *testing.T) {
	f := newFixture(t)
	f.pool("dual", []string{"198.51.100.0/29", "2001:db8:3::/120"})
	f.start()
	f.service("v4svc", annotate("metallb.io/loadBalancerIPs", "2001:db8:3::5"))
	f.waitEvent(f.ns, "v4svc", corev1.EventTypeWarning, "AllocationFailed", "ipFamily")
	f.assertNoIP("v4svc")
}

func TestServiceAllocationByNamespaceAndPriority(t *testing.T) {
	f := newFixture(t)
	f.pool("general", []string{"192.0.2.0/29"})
	f.pool("team-low", []string{"198.51.100.0/29"}, func(p *metallbv1beta1.IPAddressPool) {
		p.Spec.AllocateTo = &metallbv1beta1.ServiceAllocation{Priority: 20, Namespaces: []string{f.ns}}
	})
	f.pool("team-high", []string{"203.0.113.0/29"}, func(p *metallbv1beta1.IPAddressPool) {
		p.Spec.AllocateTo = &metallbv1beta1.ServiceAllocation{Priority: 10, Namespaces: []string{f.ns}}
	})
	f.start()
	f.service("mine")
	f.waitIPs("mine", "203.0.113.0")
}

func TestServiceAllocationByServiceSelector(t *testing.T) {
	f := newFixture(t)
	f.pool("general", []string{"192.0.2.0/29"})
	f.pool("web", []string{"198.51.100.0/29"}, func(p *metallbv1beta1.IPAddressPool) {
		p.Spec.AllocateTo = &metallbv1beta1.ServiceAllocation{ServiceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "web"}}}}
	})
	f.start()
	f.service("frontend", func(s *corev1.Service) { s.Labels = map[string]string{"tier": "web"} })
	f.service("backend")
	f.waitIPs("frontend", "198.51.100.0")
	f.waitIPs("backend", "192.0.2.0")
}

func TestServiceAllocationByNamespaceSelectorFollowsLabelChanges(t *testing.T) {
	f := newFixture(t)
	f.pool("only-gold", []string{"198.51.100.0/29"}, func(p *metallbv1beta1.IPAddressPool) {
		p.Spec.AllocateTo = &metallbv1beta1.ServiceAllocation{NamespaceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tier": "gold"}}}}
	})
	f.start()
	f.service("waiting")
	f.waitEvent(f.ns, "waiting", corev1.EventTypeWarning, "AllocationFailed", "no available IPs")
	var ns corev1.Namespace
	if err := f.c.Get(f.ctx, client.ObjectKey{Name: f.ns}, &ns); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(ns.DeepCopy())
	ns.Labels["tier"] = "gold"
	if err := f.c.Patch(f.ctx, &ns, patch); err != nil {
		t.Fatal(err)
	}
	f.waitIPs("waiting", "198.51.100.0")
}

func TestAvoidBuggyIPsSkipsDotZeroAndDot255(t *testing.T) {
	f := newFixture(t)
	f.pool("buggy", []string{"192.0.2.255/32", "198.51.100.0/31"}, func(p *metallbv1beta1.IPAddressPool) { p.Spec.AvoidBuggyIPs = true })
	f.start()
	f.service("a")
	f.waitIPs("a", "198.51.100.1")
	f.service("b", requestIP("192.0.2.255"))
	f.waitEvent(f.ns, "b", corev1.EventTypeWarning, "AllocationFailed", `"192.0.2.255" is not allowed in config`)
}

func TestOtherLoadBalancerClassIsLeftAlone(t *testing.T) {
	f := newFixture(t)
	f.pool("default", []string{"192.0.2.0/29"})
	f.start()
	f.service("theirs", func(s *corev1.Service) {
		other := "example.com/other"
		s.Spec.LoadBalancerClass = &other
	})
	f.service("ours")
	f.waitIPs("ours", "192.0.2.0")
	f.assertNoIP("theirs")
}

func TestControllerCreatesSpeakerSecret(t *testing.T) {
	f := newFixture(t)
	f.start()
	f.eventually("Secret memberlist", func() (bool, error) {
		var s corev1.Secret
		if err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.cfgNS, Name: speakersecret.Name}, &s); err != nil {
			return false, err
		}
		return len(s.Data[speakersecret.Key]) >= 16, nil
	})
}

func TestBadRequestKeepsTheCurrentIP(t *testing.T) {
	f := newFixture(t)
	f.pool("default", []string{"192.0.2.0/29"})
	f.start()
	f.service("keep", annotate("metallb.io/loadBalancerIPs", "192.0.2.3"))
	f.waitIPs("keep", "192.0.2.3")
	s := f.get("keep")
	patch := client.MergeFrom(s.DeepCopy())
	s.Annotations["metallb.io/loadBalancerIPs"] = "not-an-ip"
	if err := f.c.Patch(f.ctx, s, patch); err != nil {
		t.Fatal(err)
	}
	f.waitEvent(f.ns, "keep", corev1.EventTypeWarning, "LoadBalancerFailed", "not-an-ip")
	f.waitIPs("keep", "192.0.2.3")
}

func TestPreferDualStackGetsSecondFamilyWhenPoolGrows(t *testing.T) {
	f := newFixture(t)
	p := f.pool("growing", []string{"198.51.100.0/29"})
	f.start()
	f.service("prefer", dualStack(corev1.IPFamilyPolicyPreferDualStack, corev1.IPv4Protocol, corev1.IPv6Protocol))
	f.waitIPs("prefer", "198.51.100.0")
	if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(p), p); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.Addresses = append(p.Spec.Addresses, "2001:db8:4::/120")
	if err := f.c.Patch(f.ctx, p, patch); err != nil {
		t.Fatal(err)
	}
	f.waitIPs("prefer", "198.51.100.0", "2001:db8:4::")
	f.waitEvent(f.ns, "prefer", corev1.EventTypeNormal, "IPAllocated", `Assigned additional IP "2001:db8:4::"`)
}
