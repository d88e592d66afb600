package e2e

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/speaker"
	"github.com/ironlb/ironlb/test/lab"
)

// TestSpeakerlessNodes: three Node objects appear whose speakers do not run
// (scale-up, Windows or powered-off nodes). They are not liveness members, so
// the running speakers keep their majority: the VIP stays answered, by one
// MAC at a time. Before, the quorum counted every Node and the VIP went dark.
func TestSpeakerlessNodes(t *testing.T) {
	l := getLab(t)
	v4, _ := demoIPs(t, l)
	owner := announcer(t, l, v4) // settled by demoIPs
	p := probe(t, l, v4)
	ctx := ctxT(t)
	for i := range 3 {
		name := fmt.Sprintf("speakerless-%d", i)
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}
		if err := l.Kube().Create(ctx, n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Kube().Delete(ctxT(t), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}) })
		now := metav1.Now()
		n.Status = corev1.NodeStatus{
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: fmt.Sprintf("198.18.200.%d", 10+i)}},
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}},
		}
		if err := l.Kube().Status().Update(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	// Long enough for every speaker to have read the Nodes and, before the
	// fix, to have dropped out of quorum (StopAfter 300 ms).
	for range 25 {
		announcedBy(t, l, v4, owner)
	}
	if r, ok := p.LastReply(); !ok || r.Node != lab.NodeName(owner) {
		t.Fatalf("client traffic: %+v, want through %s", r, lab.NodeName(owner))
	}
}

// nft runs nft inside node i's namespace.
func nft(t *testing.T, l *lab.Lab, i int, args ...string) {
	t.Helper()
	if out, err := l.Net.Run(l.Net.NodeNS(i), "nft", args...); err != nil {
		t.Fatalf("nft %v in %s: %v: %s", args, lab.NodeName(i), err, out)
	}
}

// TestDeafNode: the owner's node drops incoming liveness datagrams (a host
// firewall on UDP 7947, inside that node's namespace only): it still sends,
// so the others hear it, but it hears nobody. It stops announcing and, since
// its heartbeats say it hears no majority, the others take its IPs. Never two
// MACs. Before, nobody took over and the VIP stayed dark.
func TestDeafNode(t *testing.T) {
	l := getLab(t)
	v4, v6 := demoIPs(t, l)
	owner := announcer(t, l, v4)
	p := probe(t, l, v4)
	nft(t, l, owner, "add", "table", "inet", "ilbdeaf")
	heal := once(func() error {
		_, err := l.Net.Run(l.Net.NodeNS(owner), "nft", "delete", "table", "inet", "ilbdeaf")
		return err
	})
	t.Cleanup(func() { _ = heal() })
	nft(t, l, owner, "add", "chain", "inet", "ilbdeaf", "in", "{ type filter hook input priority 0 ; }")
	nft(t, l, owner, "add", "rule", "inet", "ilbdeaf", "in", "udp", "dport", "7947", "drop")
	to := waitTakeover(t, l, p, v4, owner)
	announcedBy(t, l, v6, to)
	for range 10 { // it stays replaced while deaf
		announcedBy(t, l, v4, to)
	}
	if err := heal(); err != nil {
		t.Fatal(err)
	}
	announcedBy(t, l, v4, owner)
	announcedBy(t, l, v6, owner)
}

// TestLastNodeStanding: two of three speakers are SIGKILLed one after the
// other. After the first, the two survivors take over and evict it from the
// member set (its ironlb.io/liveness annotation emptied); after the second,
// the last one (one of two members) takes over through the Lease. Before,
// the last one was 1 of 3 and the VIP went dark.
func TestLastNodeStanding(t *testing.T) {
	l := getLab(t)
	v4, v6 := demoIPs(t, l)
	first := announcer(t, l, v4)
	p := probe(t, l, v4)
	var killed []int
	t.Cleanup(func() {
		for _, i := range killed {
			_ = l.StartSpeaker(i)
		}
	})
	evicted := func(i int) {
		eventually(t, failover, lab.NodeName(i)+" evicted from the liveness members", func() (bool, string) {
			var n corev1.Node
			if err := l.Kube().Get(ctxT(t), client.ObjectKey{Name: lab.NodeName(i)}, &n); err != nil {
				return false, err.Error()
			}
			v, ok := n.Annotations[speaker.LivenessAnnotation]
			return ok && v == "", fmt.Sprintf("%q %v", v, ok)
		})
	}
	if err := l.KillSpeaker(first); err != nil {
		t.Fatal(err)
	}
	killed = append(killed, first)
	second := waitTakeover(t, l, p, v4, first)
	evicted(first)
	if err := l.KillSpeaker(second); err != nil {
		t.Fatal(err)
	}
	killed = append(killed, second)
	last := waitTakeover(t, l, p, v4, second)
	announcedBy(t, l, v6, last)
	dialedBy(t, l, v4, 80, last)
	t.Logf("last node standing: %s", lab.NodeName(last))
	for _, i := range killed {
		if err := l.StartSpeaker(i); err != nil {
			t.Fatal(err)
		}
	}
	killed = nil
	announcedBy(t, l, v4, first)
}
