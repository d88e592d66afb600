package integration

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

func TestServiceGetsLowestFreeIPWithAnnotationAndEvent(t *testing.T) {
	f := newFixture(t)
	f.pool("default", []string{"192.0.2.0/29"})
	f.start()
	f.service("web")
	f.waitIPs("web", "192.0.2.0")
	if got := f.get("web").Annotations["metallb.io/ip-allocated-from-pool"]; got != "default" {
		t.Fatalf("annotation metallb.io/ip-allocated-from-pool = %q, want default", got)
	}
	f.waitEvent(f.ns, "web", corev1.EventTypeNormal, "IPAllocated", `Assigned IP ["192.0.2.0"]`)
	f.service("web2")
	f.waitIPs("web2", "192.0.2.1")
}

func TestRequestedIPOutsidePoolStaysPendingWithMetalLBMessage(t *testing.T) {
	f := newFixture(t)
	f.pool("default", []string{"192.0.2.0/29"})
	f.start()
	f.service("invalid-request", requestIP("203.0.113.77"))
	msg := f.waitEvent(f.ns, "invalid-request", corev1.EventTypeWarning, "AllocationFailed", "")
	want := fmt.Sprintf(`Failed to allocate IP for "%s/invalid-request": "203.0.113.77" is not allowed in config`, f.ns)
	if msg != want {
		t.Fatalf("event message\n got: %s\nwant: %s", msg, want)
	}
	f.assertNoIP("invalid-request")
}

func TestRequestedIPInsidePoolIsGiven(t *testing.T) {
	f := newFixture(t)
	f.pool("default", []string{"192.0.2.10-192.0.2.20"})
	f.start()
	f.service("by-spec", requestIP("192.0.2.15"))
	f.service("by-annotation", annotate("metallb.io/loadBalancerIPs", "192.0.2.16"))
	f.service("by-legacy-annotation", annotate("metallb.universe.tf/loadBalancerIPs", "192.0.2.17"))
	f.waitIPs("by-spec", "192.0.2.15")
	f.waitIPs("by-annotation", "192.0.2.16")
	f.waitIPs("by-legacy-annotation", "192.0.2.17")
	f.waitEvent(f.ns, "by-legacy-annotation", corev1.EventTypeWarning, "deprecatedAnnotation", "metallb.universe.tf/loadBalancerIPs")
}

func TestBothRequestsAtOnceIsAnError(t *testing.T) {
	f := newFixture(t)
	f.pool("default", []string{"192.0.2.0/29"})
	f.start()
	f.service("both", requestIP("192.0.2.1"), annotate("metallb.io/loadBalancerIPs", "192.0.2.2"))
	f.waitEvent(f.ns, "both", corev1.EventTypeWarning, "AllocationFailed", "can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP")
	f.assertNoIP("both")
}

func TestThreeRequestedIPsIsAnError(t *testing.T) {
	f := newFixture(t)
	f.pool("default", []string{"192.0.2.0/29"})
	f.start()
	f.service("three", annotate("metallb.io/loadBalancerIPs", "192.0.2.1,192.0.2.2,192.0.2.3"))
	f.waitEvent(f.ns, "three", corev1.EventTypeWarning, "AllocationFailed", "at most two IPs")
	f.assertNoIP("three")
}

func TestAddressPoolAnnotationUsesNonAutoAssignPool(t *testing.T) {
	f := newFixture(t)
	f.pool("auto", []string{"192.0.2.0/29"})
	f.pool("manual", []string{"198.51.100.0/29"}, noAutoAssign)
	f.start()
	f.service("pinned", annotate("metallb.io/address-pool", "manual"))
	f.waitIPs("pinned", "198.51.100.0")
	f.service("legacy", annotate("metallb.universe.tf/address-pool", "manual"))
	f.waitIPs("legacy", "198.51.100.1")
	f.service("plain")
	f.waitIPs("plain", "192.0.2.0")
	if got := f.get("pinned").Annotations["metallb.io/ip-allocated-from-pool"]; got != "manual" {
		t.Fatalf("pool annotation %q, want manual", got)
	}
}

func TestNewAnnotationPrefixWinsOverLegacy(t *testing.T) {
	f := newFixture(t)
	f.pool("a", []string{"192.0.2.0/29"})
	f.pool("b", []string{"198.51.100.0/29"})
	f.start()
	f.service("both", annotate("metallb.io/address-pool", "b"), annotate("metallb.universe.tf/address-pool", "a"))
	f.waitIPs("both", "198.51.100.0")
}

func TestUnknownPoolFallsBackToAutoAssignWithWarning(t *testing.T) {
	f := newFixture(t)
	f.pool("auto", []string{"192.0.2.0/29"})
	f.pool("manual", []string{"198.51.100.0/29"}, noAutoAssign)
	f.start()
	f.service("lost", annotate("metallb.io/address-pool", "nope"))
	f.waitIPs("lost", "192.0.2.0")
	f.waitEvent(f.ns, "lost", corev1.EventTypeWarning, "UnknownPool", `"nope"`)
}

func TestNoAutoAssignPoolIsNeverPickedUnnamed(t *testing.T) {
	f := newFixture(t)
	f.pool("manual", []string{"198.51.100.0/29"}, noAutoAssign)
	f.start()
	f.service("plain")
	f.waitEvent(f.ns, "plain", corev1.EventTypeWarning, "AllocationFailed", "no available IPs")
	f.assertNoIP("plain")
}

func TestSharedIPForTCPAndUDPDNS(t *testing.T) {
	f := newFixture(t)
	f.pool("default", []string{"192.0.2.0/29"})
	f.start()
	f.service("dns-tcp", ports(corev1.ProtocolTCP, 53), annotate("metallb.io/allow-shared-ip", "dns"))
	f.service("dns-udp", ports(corev1.ProtocolUDP, 53), annotate("metallb.io/allow-shared-ip", "dns"))
	ip := f.waitAnyIP("dns-tcp")
	f.waitIPs("dns-udp", ip)

	// A third Service with the key but a clashing port does not get that IP.
	f.service("dns-tcp-again", ports(corev1.ProtocolTCP, 53), annotate("metallb.io/allow-shared-ip", "dns"), requestIP(ip))
	f.waitEvent(f.ns, "dns-tcp-again", corev1.EventTypeWarning, "AllocationFailed", "port TCP/53 is already in use")
	// Another key cannot take it either.
	f.service("other-key", ports(corev1.ProtocolTCP, 54), annotate("metallb.io/allow-shared-ip", "other"), requestIP(ip))
	f.waitEvent(f.ns, "other-key", corev1.EventTypeWarning, "AllocationFailed", "sharing key")
}

func TestSharingWithLocalPolicyNeedsSameSelector(t *testing.T) {
	f := newFixture(t)
	f.pool("default", []string{"192.0.2.0/29"})
	f.start()
	local := func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	f.service("a", ports(corev1.ProtocolTCP, 80), annotate("metallb.io/allow-shared-ip", "k"), local)
	ip := f.waitAnyIP("a")
	f.service("b", ports(corev1.ProtocolTCP, 81), annotate("metallb.io/allow-shared-ip", "k"), local, requestIP(ip))
	f.waitEvent(f.ns, "b", corev1.EventTypeWarning, "AllocationFailed", "")
	f.assertNoIP("b")
	f.service("c", ports(corev1.ProtocolTCP, 82), annotate("metallb.io/allow-shared-ip", "k"), local, requestIP(ip),
		func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a"} })
	f.waitIPs("c", ip)
}

func TestServiceThatStopsBeingLoadBalancerIsCleared(t *testing.T) {
	f := newFixture(t)
	f.pool("default", []string{"192.0.2.0/30"})
	f.start()
	f.service("web")
	f.waitIPs("web", "192.0.2.0")
	s := f.get("web")
	patch := client.MergeFrom(s.DeepCopy())
	s.Spec.Type = corev1.ServiceTypeClusterIP
	s.Spec.LoadBalancerClass = nil
	if err := f.c.Patch(f.ctx, s, patch); err != nil {
		t.Fatal(err)
	}
	f.waitIPs("web")
	f.eventually("pool annotation removed", func() (bool, error) {
		_, has := f.get("web").Annotations["metallb.io/ip-allocated-from-pool"]
		return !has, nil
	})
	// The IP is free again: the next Service gets it.
	f.service("next")
	f.waitIPs("next", "192.0.2.0")
}

func TestPendingServiceGetsIPWhenOneIsFreed(t *testing.T) {
	f := newFixture(t)
	f.pool("tiny", []string{"192.0.2.1/32"})
	f.start()
	f.service("first")
	f.waitIPs("first", "192.0.2.1")
	f.service("second")
	f.waitEvent(f.ns, "second", corev1.EventTypeWarning, "AllocationFailed", "no available IPs")
	if err := f.c.Delete(f.ctx, f.get("first")); err != nil {
		t.Fatal(err)
	}
	f.waitIPs("second", "192.0.2.1")
}

func TestPendingServiceGetsIPWhenPoolIsAdded(t *testing.T) {
	f := newFixture(t)
	f.start()
	f.service("early")
	f.waitEvent(f.ns, "early", corev1.EventTypeWarning, "AllocationFailed", "")
	f.pool("late", []string{"203.0.113.8/29"})
	f.waitIPs("early", "203.0.113.8")
}

func TestPoolShrinkMovesOnlyServicesOutsideIt(t *testing.T) {
	f := newFixture(t)
	p := f.pool("default", []string{"192.0.2.0/29"})
	f.pool("spare", []string{"198.51.100.0/29"})
	f.start()
	// Fill 192.0.2.0-3 in a known order.
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("s%d", i)
		f.service(name, requestIP(fmt.Sprintf("192.0.2.%d", i)))
		f.waitIPs(name, fmt.Sprintf("192.0.2.%d", i))
	}
	if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(p), p); err != nil {
		t.Fatal(err)
	}
	patch := client.MergeFrom(p.DeepCopy())
	p.Spec.Addresses = []string{"192.0.2.0/31"} // keeps .0 and .1
	if err := f.c.Patch(f.ctx, p, patch); err != nil {
		t.Fatal(err)
	}
	// s2 and s3 asked for IPs that left every pool: they wait with a clear reason.
	f.waitEvent(f.ns, "s2", corev1.EventTypeNormal, "ClearAssignment", "not allowed by config")
	f.waitIPs("s2")
	f.waitIPs("s0", "192.0.2.0")
	f.waitIPs("s1", "192.0.2.1")
}

func TestDeletedPoolMovesItsServicesToAnotherPool(t *testing.T) {
	f := newFixture(t)
	doomed := f.pool("a-doomed", []string{"192.0.2.0/30"})
	f.pool("b-stays", []string{"198.51.100.0/30"})
	f.start()
	f.service("x", annotate("metallb.io/address-pool", "a-doomed"))
	f.service("y", annotate("metallb.io/address-pool", "b-stays"))
	f.waitIPs("x", "192.0.2.0")
	f.waitIPs("y", "198.51.100.0")
	if err := f.c.Delete(f.ctx, doomed); err != nil {
		t.Fatal(err)
	}
	f.waitIPs("x", "198.51.100.1")
	f.waitIPs("y", "198.51.100.0")
}

func TestOverlappingPoolIsReportedAndOthersKeepWorking(t *testing.T) {
	f := newFixture(t)
	f.pool("first", []string{"192.0.2.0/29"})
	f.start()
	f.service("a")
	f.waitIPs("a", "192.0.2.0")
	f.pool("second", []string{"192.0.2.4-192.0.2.10"})
	f.waitEvent(f.cfgNS, "second", corev1.EventTypeWarning, "InvalidConfiguration", `overlap IPAddressPool "first"`)
	f.eventually("ConfigurationState controller Invalid naming the pool", func() (bool, error) {
		var cs metallbv1beta1.ConfigurationState
		if err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.cfgNS, Name: "controller"}, &cs); err != nil {
			return false, err
		}
		return cs.Status.Result == "Invalid" && strings.Contains(cs.Status.ErrorSummary, `"second"`), fmt.Errorf("status %+v", cs.Status)
	})
	f.service("b")
	f.waitIPs("b", "192.0.2.1")
	f.waitIPs("a", "192.0.2.0")
}

func TestPoolStatusCountsAssignedAndAvailable(t *testing.T) {
	f := newFixture(t)
	f.pool("counted", []string{"192.0.2.0/29", "2001:db8:1::/64"})
	f.start()
	f.service("one")
	f.service("two")
	f.waitAnyIP("one")
	f.waitAnyIP("two")
	f.eventually("pool status counts", func() (bool, error) {
		var p metallbv1beta1.IPAddressPool
		if err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.cfgNS, Name: "counted"}, &p); err != nil {
			return false, err
		}
		st := p.Status
		want := metallbv1beta1.IPAddressPoolStatus{AssignedIPv4: 2, AvailableIPv4: 6, AssignedIPv6: 0, AvailableIPv6: 1<<63 - 1}
		return st == want, fmt.Errorf("status %+v", st)
	})
}
