package speaker

import (
	"net/netip"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMember(t *testing.T) {
	node := func(ann map[string]string, ready corev1.ConditionStatus) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n", Annotations: ann}}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.1"}}
		if ready != "" {
			n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}
		}
		return n
	}
	cases := map[string]struct {
		n    *corev1.Node
		want string // "" = not a member
	}{
		"a Node with no speaker (no annotation) is not a member": {n: node(nil, "")},
		"a published address is the member's address, not the InternalIP": {
			n: node(map[string]string{LivenessAnnotation: "198.51.100.7:7947"}, ""), want: "198.51.100.7:7947"},
		"an IPv6 address works": {
			n: node(map[string]string{LivenessAnnotation: "[2001:db8::7]:7947"}, corev1.ConditionTrue), want: "[2001:db8::7]:7947"},
		"an emptied annotation (stopped or evicted speaker) is not a member": {
			n: node(map[string]string{LivenessAnnotation: "", InterfacesAnnotation: "eth0"}, "")},
		"garbage is not a member":            {n: node(map[string]string{LivenessAnnotation: "eth0"}, "")},
		"a wildcard address is not a member": {n: node(map[string]string{LivenessAnnotation: "0.0.0.0:7947"}, "")},
		"an older speaker (interfaces annotation only) is a member at the InternalIP": {
			n: node(map[string]string{InterfacesAnnotation: "eth0"}, ""), want: "192.0.2.1:7947"},
		"Ready Unknown (kubelet gone, powered off) is not a member": {
			n: node(map[string]string{LivenessAnnotation: "198.51.100.7:7947"}, corev1.ConditionUnknown)},
		"Ready False (kubelet reports, node unhealthy) is still a member": {
			n: node(map[string]string{LivenessAnnotation: "198.51.100.7:7947"}, corev1.ConditionFalse), want: "198.51.100.7:7947"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ap, ok := Member(tc.n, 7947)
			got := ""
			if ok {
				got = ap.String()
			}
			if got != tc.want {
				t.Fatalf("Member = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestStepPeers(t *testing.T) {
	a := netip.MustParseAddrPort("192.0.2.1:7947")
	b := netip.MustParseAddrPort("192.0.2.2:7947")
	set := func(names ...string) map[string]netip.AddrPort {
		m := map[string]netip.AddrPort{}
		for _, n := range names {
			m[n] = a
		}
		return m
	}
	cases := map[string]struct {
		cur, want map[string]netip.AddrPort
		alive     []string
		next      map[string]netip.AddrPort
		changed   bool
		stillToDo bool
	}{
		"the first set is taken whole": {
			cur: nil, want: set("x", "y", "z"), next: set("x", "y", "z"), changed: true},
		"nothing to do": {
			cur: set("x"), want: set("x"), alive: []string{"x"}, next: set("x")},
		"two joins: one at a time, by name": {
			cur: set("x"), want: set("x", "z", "y"), alive: []string{"x"}, next: set("x", "y"), changed: true, stillToDo: true},
		"a down member leaves": {
			cur: set("x", "y"), want: set("x"), alive: []string{"x"}, next: set("x"), changed: true},
		"a member still alive stays until liveness has it down": {
			cur: set("x", "y"), want: set("x"), alive: []string{"x", "y"}, next: set("x", "y"), stillToDo: true},
		"a removal goes before an addition": {
			cur: set("x", "y"), want: set("x", "z"), alive: []string{"x"}, next: set("x"), changed: true, stillToDo: true},
		"an addition goes ahead while a removal waits for liveness": {
			cur: set("x", "y"), want: set("x", "z"), alive: []string{"x", "y"}, next: set("x", "y", "z"), changed: true, stillToDo: true},
		"two down members leave one at a time": {
			cur: set("x", "y", "z"), want: set("x"), alive: []string{"x"}, next: set("x", "z"), changed: true, stillToDo: true},
		"an address change is applied (not a membership change)": {
			cur: set("x"), want: map[string]netip.AddrPort{"x": b}, alive: []string{"x"},
			next: map[string]netip.AddrPort{"x": b}, changed: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			next, changed, pending := stepPeers(tc.cur, tc.want, tc.alive)
			if !mapsEqualAddr(next, tc.next) || changed != tc.changed || pending != tc.stillToDo {
				t.Fatalf("stepPeers = %v changed=%v pending=%v, want %v changed=%v pending=%v",
					next, changed, pending, tc.next, tc.changed, tc.stillToDo)
			}
		})
	}
}
