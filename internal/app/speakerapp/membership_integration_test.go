package speakerapp_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/rendezvous"
	"github.com/ironlb/ironlb/internal/speaker"
)

func (f *fixture) annotate(node, key, value string) {
	f.t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, key, value)
	if err := f.c.Patch(f.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) annotation(node, key string) (string, bool) {
	var n corev1.Node
	if err := f.c.Get(context.Background(), client.ObjectKey{Name: node}, &n); err != nil {
		f.t.Fatal(err)
	}
	v, ok := n.Annotations[key]
	return v, ok
}

// exclusive waits until only want announces ip (the first speaker up may
// have announced alone before the others joined), then checks it stays so.
func (f *fixture) exclusive(ip netip.Addr, want *speakerInst, all []*speakerInst) {
	f.t.Helper()
	f.eventually(fmt.Sprintf("%s announced only by %s", ip, want.node), func() (bool, error) {
		var owners []string
		for _, s := range all {
			if s.ann.owns(ip) {
				owners = append(owners, s.node)
			}
		}
		return len(owners) == 1 && owners[0] == want.node, fmt.Errorf("announced by %v", owners)
	})
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		for _, s := range all {
			if s.ann.owns(ip) != (s == want) {
				f.t.Fatalf("%s: owns(%s) = %v", s.node, ip, s.ann.owns(ip))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// members waits until every speaker is in quorum among n members.
func (f *fixture) members(sp []*speakerInst, n int) {
	f.t.Helper()
	f.eventually(fmt.Sprintf("%d members in quorum", n), func() (bool, error) {
		for _, s := range sp {
			m := s.member.Load()
			if m == nil {
				return false, fmt.Errorf("%s has no member yet", s.node)
			}
			if v := m.Snapshot(); !v.InQuorum || v.Expected != n {
				return false, fmt.Errorf("%s: %+v", s.node, v)
			}
		}
		return true, nil
	})
}

func (f *fixture) poolAndAd(cidr string) {
	f.t.Helper()
	pool := &metallbv1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "p"}, Spec: metallbv1beta1.IPAddressPoolSpec{Addresses: []string{cidr}}}
	if err := f.c.Create(f.ctx, pool); err != nil {
		f.t.Fatal(err)
	}
	if err := f.c.Create(f.ctx, &metallbv1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "all"}}); err != nil {
		f.t.Fatal(err)
	}
}

// TestSpeakerlessNodesDoNotBlockQuorum: three Node objects whose speakers do
// not run (scale-up, Windows or powered-off nodes) are not liveness members,
// so the two running speakers keep their majority and one announces. Before
// the membership came from LivenessAnnotation, the 5 Nodes made a quorum of
// 3 that two speakers never reach: nobody announced.
func TestSpeakerlessNodesDoNotBlockQuorum(t *testing.T) {
	f := newFixture(t)
	names := []string{fmt.Sprintf("t%d-a", f.n), fmt.Sprintf("t%d-b", f.n)}
	ips := []string{"127.0.0.21", "127.0.0.22"}
	for i := range names {
		f.node(names[i], ips[i], nil)
	}
	for i := range 3 {
		f.node(fmt.Sprintf("t%d-new%d", f.n, i), fmt.Sprintf("127.0.0.%d", 31+i), nil)
	}
	f.poolAndAd("198.51.100.0/24")
	ip := netip.MustParseAddr("198.51.100.20")
	f.lbService("web", ip.String(), names[0])
	sp := []*speakerInst{f.start(names[0], ips[0]), f.start(names[1], ips[1])}
	ownerName, _ := rendezvous.Owner(ip, names)
	owner := sp[slices.Index(names, ownerName)]
	f.members(sp, 2)
	f.exclusive(ip, owner, sp)
	for i, n := range names {
		if v, _ := f.annotation(n, speaker.LivenessAnnotation); v != fmt.Sprintf("%s:%d", ips[i], f.port) {
			t.Fatalf("%s publishes %s=%q", n, speaker.LivenessAnnotation, v)
		}
	}
	if st := owner.member.Load().Snapshot(); st.Expected != 2 {
		t.Fatalf("liveness counts %d members, want 2", st.Expected)
	}
}

// TestLastSpeakerStanding: of three speakers, the owner's liveness dies (no
// goodbye); the other two take over with their majority and evict it from the
// member set; then the new owner dies too and the last one, now one of two,
// takes over through the tie-breaker Lease (a set of two is not shrunk). With the member set fixed at the
// three Nodes the last one stayed out of quorum (1 of 3) and the IP went dark.
func TestLastSpeakerStanding(t *testing.T) {
	f := newFixture(t)
	names := []string{fmt.Sprintf("t%d-a", f.n), fmt.Sprintf("t%d-b", f.n), fmt.Sprintf("t%d-c", f.n)}
	ips := []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"}
	for i := range names {
		f.node(names[i], ips[i], nil)
	}
	f.poolAndAd("198.51.100.0/24")
	ip := netip.MustParseAddr("198.51.100.30")
	f.lbService("web", ip.String(), names[0])
	var sp []*speakerInst
	for i := range names {
		sp = append(sp, f.start(names[i], ips[i]))
	}
	byName := func(n string) *speakerInst { return sp[slices.Index(names, n)] }
	f.members(sp, 3)

	alive := slices.Clone(names)
	for len(alive) > 1 {
		ownerName, _ := rendezvous.Owner(ip, alive)
		owner := byName(ownerName)
		f.exclusive(ip, owner, sp)
		owner.member.Load().kill()
		alive = slices.DeleteFunc(alive, func(n string) bool { return n == ownerName })
		next, _ := rendezvous.Owner(ip, alive)
		f.exclusive(ip, byName(next), sp)
		if len(alive) == 1 {
			if st := byName(next).member.Load().Snapshot(); !st.InQuorum || st.Expected != 2 {
				t.Fatalf("last speaker: %+v, want in quorum as one of two (the Lease)", st)
			}
			if v, _ := f.annotation(ownerName, speaker.LivenessAnnotation); v == "" {
				t.Fatal("a set of two was shrunk to one")
			}
			break
		}
		f.eventually(ownerName+" evicted from the member set", func() (bool, error) {
			v, ok := f.annotation(ownerName, speaker.LivenessAnnotation)
			return ok && v == "", fmt.Errorf("%q", v)
		})
	}
}
