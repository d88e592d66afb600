package integration

import (
	"bytes"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/ironlb/ironlb/internal/app/whyapp"
)

func (f *fixture) why(name string) string {
	f.t.Helper()
	var out bytes.Buffer
	if err := whyapp.Run(f.ctx, f.c, whyapp.Options{Namespace: f.ns, Name: name, ConfigNamespace: f.cfgNS, LBClass: f.lbClass}, &out); err != nil {
		f.t.Fatalf("why %s: %v", name, err)
	}
	f.t.Logf("kubectl ironlb why %s:\n%s", name, out.String())
	return out.String()
}

func assertContains(t *testing.T, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

// `kubectl ironlb why` gives the controller's own reason for a pending Service and
// what to do about it, and for a Service with an IP, whether it is announced.
func TestWhyExplainsPendingAndAssignedServices(t *testing.T) {
	f := newFixture(t)
	f.pool("small", []string{"192.0.2.0/31"})
	f.start()

	f.service("lucky")
	f.waitIPs("lucky", "192.0.2.0")
	assertContains(t, f.why("lucky"),
		"IPs:            192.0.2.0 (pool small)",
		"ok: the controller keeps these IPs",
		"there is no L2Advertisement")

	f.service("outside", requestIP("203.0.113.9"))
	f.waitEvent(f.ns, "outside", corev1.EventTypeWarning, "AllocationFailed", "")
	assertContains(t, f.why("outside"),
		"the Service is <pending>",
		`FAILS: Failed to allocate IP for "`+f.ns+`/outside": "203.0.113.9" is not allowed in config`,
		"What to do:     the requested IP is in no IPAddressPool",
		"Pool:           small 192.0.2.0/31, auto-assign, IPv4 1 used / 1 free")

	f.service("second")
	f.waitIPs("second", "192.0.2.1")
	f.service("third")
	f.waitEvent(f.ns, "third", corev1.EventTypeWarning, "AllocationFailed", "no available IPs")
	assertContains(t, f.why("third"), "FAILS:", "no available IPs", "every pool this Service may use is full")

	f.service("clusterip", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.LoadBalancerClass = nil
		s.Spec.AllocateLoadBalancerNodePorts = nil
	})
	assertContains(t, f.why("clusterip"), "Not ours:", "type is ClusterIP")
}
