package allocation

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go4.org/netipx"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ironlb/ironlb/internal/allocator"
)

// newTestState returns state with the given pools loaded, as the pool loop would.
func newTestState(t *testing.T, pools ...allocator.Pool) *State {
	t.Helper()
	s := NewState("metallb-system", "")
	s.loaded, s.adopted = true, true
	for _, p := range pools {
		s.pools[p.Name] = p
	}
	s.alloc.SetPools(pools)
	return s
}

func testPool(name string, auto bool, cidrs ...string) allocator.Pool {
	p := allocator.Pool{Name: name, AutoAssign: auto}
	for _, c := range cidrs {
		p.Ranges = append(p.Ranges, netipx.RangeOfPrefix(netip.MustParsePrefix(c)))
	}
	return p
}

type svcMut func(*corev1.Service)

func testService(name string, muts ...svcMut) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeLoadBalancer,
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80}},
		},
	}
	for _, m := range muts {
		m(s)
	}
	return s
}

func withAnnotation(k, v string) svcMut {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}

func withIngress(ips ...string) svcMut {
	return func(s *corev1.Service) {
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
	}
}

func withSpecIP(ip string) svcMut { return func(s *corev1.Service) { s.Spec.LoadBalancerIP = ip } }

func TestConverge(t *testing.T) {
	cases := map[string]struct {
		pools []allocator.Pool
		// before are Services converged first, in order, to set up the allocator.
		before      []*corev1.Service
		svc         *corev1.Service
		wantIPs     string // comma-joined; "" = no IP
		wantPool    string
		wantPending bool
		wantEvent   string // "Reason: message substring" of one event; "" = no event
	}{
		"a new Service gets the lowest free IP of an auto-assign pool": {
			pools:   []allocator.Pool{testPool("default", true, "192.0.2.0/30")},
			svc:     testService("web"),
			wantIPs: "192.0.2.0", wantPool: "default",
			wantEvent: `IPAllocated: Assigned IP ["192.0.2.0"]`,
		},
		"a Service keeps the IP in its status and no event repeats": {
			pools:   []allocator.Pool{testPool("default", true, "192.0.2.0/30")},
			svc:     testService("web", withIngress("192.0.2.3")),
			wantIPs: "192.0.2.3", wantPool: "default",
		},
		"a requested IP outside every pool waits with MetalLB's message": {
			pools:       []allocator.Pool{testPool("default", true, "192.0.2.0/30")},
			svc:         testService("invalid-request", withSpecIP("203.0.113.9")),
			wantPending: true,
			wantEvent:   `AllocationFailed: Failed to allocate IP for "default/invalid-request": "203.0.113.9" is not allowed in config`,
		},
		"an unknown pool falls back to auto-assign pools and says so": {
			pools:   []allocator.Pool{testPool("auto", true, "192.0.2.0/30"), testPool("manual", false, "198.51.100.0/30")},
			svc:     testService("lost", withAnnotation("metallb.io/address-pool", "nope")),
			wantIPs: "192.0.2.0", wantPool: "auto",
			wantEvent: `UnknownPool: the address-pool annotation names pool "nope"`,
		},
		"a named pool is used even without autoAssign": {
			pools:   []allocator.Pool{testPool("auto", true, "192.0.2.0/30"), testPool("manual", false, "198.51.100.0/30")},
			svc:     testService("pinned", withAnnotation("metallb.universe.tf/address-pool", "manual")),
			wantIPs: "198.51.100.0", wantPool: "manual",
			wantEvent: "IPAllocated",
		},
		"a current IP outside the named pool is cleared and reallocated": {
			pools:   []allocator.Pool{testPool("a", true, "192.0.2.0/30"), testPool("b", true, "198.51.100.0/30")},
			svc:     testService("moving", withIngress("192.0.2.1"), withAnnotation("metallb.io/address-pool", "b")),
			wantIPs: "198.51.100.0", wantPool: "b",
			wantEvent: "ClearAssignment: current IP for \"default/moving\" not allowed by config",
		},
		"a bad request keeps the current IP and warns": {
			pools:   []allocator.Pool{testPool("default", true, "192.0.2.0/30")},
			svc:     testService("keep", withIngress("192.0.2.2"), withAnnotation("metallb.io/loadBalancerIPs", "garbage")),
			wantIPs: "192.0.2.2", wantPool: "default",
			wantEvent: "LoadBalancerFailed: invalid requested loadbalancer IPs",
		},
		"a full pool leaves the Service pending": {
			pools:       []allocator.Pool{testPool("tiny", true, "192.0.2.1/32")},
			before:      []*corev1.Service{testService("first")},
			svc:         testService("second"),
			wantPending: true,
			wantEvent:   "AllocationFailed: Failed to allocate IP for \"default/second\": no available IPs",
		},
		"two Services with one sharing key and distinct ports share the IP": {
			pools:   []allocator.Pool{testPool("default", true, "192.0.2.0/30")},
			before:  []*corev1.Service{testService("tcp", withAnnotation("metallb.io/allow-shared-ip", "dns"))},
			svc:     testService("udp", withAnnotation("metallb.io/allow-shared-ip", "dns"), func(s *corev1.Service) { s.Spec.Ports[0].Protocol = corev1.ProtocolUDP }),
			wantIPs: "192.0.2.0", wantPool: "default",
			wantEvent: "IPAllocated",
		},
		"a clashing port cannot share the requested IP": {
			pools:       []allocator.Pool{testPool("default", true, "192.0.2.0/30")},
			before:      []*corev1.Service{testService("a", withAnnotation("metallb.io/allow-shared-ip", "k"))},
			svc:         testService("b", withAnnotation("metallb.io/allow-shared-ip", "k"), withSpecIP("192.0.2.0")),
			wantPending: true,
			wantEvent:   `AllocationFailed: Failed to allocate IP for "default/b": port TCP/80 is already in use on "192.0.2.0"`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := newTestState(t, tc.pools...)
			for _, b := range tc.before {
				if d := s.convergeLocked(b, nil); d.pending {
					t.Fatalf("setup Service %s did not get an IP: %+v", b.Name, d.events)
				}
			}
			d := s.convergeLocked(tc.svc, nil)
			var got []string
			for _, ip := range d.ips {
				got = append(got, ip.String())
			}
			if strings.Join(got, ",") != tc.wantIPs || d.pool != tc.wantPool || d.pending != tc.wantPending {
				t.Fatalf("got ips %v pool %q pending %v; want %s %q %v (events %+v)", got, d.pool, d.pending, tc.wantIPs, tc.wantPool, tc.wantPending, d.events)
			}
			if tc.wantEvent == "" {
				if len(d.events) != 0 {
					t.Fatalf("unexpected events %+v", d.events)
				}
				return
			}
			reason, msg, _ := strings.Cut(tc.wantEvent, ": ")
			if !slices.ContainsFunc(d.events, func(e Event) bool { return e.Reason == reason && strings.Contains(e.Message, msg) }) {
				t.Fatalf("events %+v lack %s", d.events, tc.wantEvent)
			}
		})
	}
}

// Converging a Service twice is a no-op the second time: level-based reconciles
// may run any number of times.
func TestConvergeIsIdempotent(t *testing.T) {
	s := newTestState(t, testPool("default", true, "192.0.2.0/30"))
	d := s.convergeLocked(testService("web"), nil)
	again := s.convergeLocked(testService("web", withIngress(d.ips[0].String())), nil)
	if !slices.Equal(again.ips, d.ips) || len(again.events) != 0 || again.freed {
		t.Fatalf("second converge changed something: %+v", again)
	}
}

// PreferDualStack without room for the second family: one IP, one event, and the
// Service stays on the retry list without repeating the event.
func TestPreferDualStackWithoutSecondFamilySaysSoOnce(t *testing.T) {
	s := newTestState(t, testPool("v4only", true, "192.0.2.0/30"))
	prefer := corev1.IPFamilyPolicyPreferDualStack
	dual := func(svc *corev1.Service) {
		svc.Spec.IPFamilyPolicy = &prefer
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	}
	first := s.convergeLocked(testService("web", dual), nil)
	if len(first.ips) != 1 {
		t.Fatalf("first pass: %+v", first)
	}
	svc := testService("web", dual, withIngress(first.ips[0].String()))
	d := s.convergeLocked(svc, nil)
	if !d.pending || len(d.events) != 1 || d.events[0].Reason != ReasonAdditionalAssignFailed {
		t.Fatalf("second pass: pending %v events %+v", d.pending, d.events)
	}
	s.markPendingLocked(svcKey(svc), d.pending, pendingInfo{})
	if again := s.convergeLocked(svc, nil); len(again.events) != 0 || !again.pending {
		t.Fatalf("third pass repeated itself: %+v", again)
	}
}

func TestRequireDualStackWithOneClusterIPWaitsWithMetalLBWarning(t *testing.T) {
	s := newTestState(t, testPool("dual", true, "192.0.2.0/30", "2001:db8::/126"))
	require := corev1.IPFamilyPolicyRequireDualStack
	d := s.convergeLocked(testService("web", func(svc *corev1.Service) {
		svc.Spec.IPFamilyPolicy = &require
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		svc.Spec.ClusterIPs = []string{"198.18.0.10"}
	}), nil)
	if len(d.ips) != 0 || !d.pending || len(d.events) != 1 || d.events[0].Reason != "not enough clusterips" {
		t.Fatalf("got %+v", d)
	}
}
