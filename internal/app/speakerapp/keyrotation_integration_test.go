package speakerapp_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/liveness"
	"github.com/ironlb/ironlb/internal/speaker"
)

// TestSecretRotation: the memberlist Secret is rotated, then deleted and
// recreated with another key, while two speakers run. They stay in quorum
// throughout (neither ever rejects the other's heartbeats), and a speaker
// restarted afterwards, which knows only the newest key, joins.
func TestSecretRotation(t *testing.T) {
	f := newFixture(t)
	names := []string{fmt.Sprintf("t%d-a", f.n), fmt.Sprintf("t%d-b", f.n)}
	ips := []string{"127.0.0.21", "127.0.0.22"}
	for i := range names {
		f.node(names[i], ips[i], nil)
	}
	// Generous liveness timing: the machine is shared; what is tested is the
	// key handling, not the failover speed.
	const switchAfter = 2 * time.Second
	f.speakerOpts = &speaker.Options{Debounce: 5 * time.Millisecond, SettleAfter: 3 * time.Second,
		Interval: 100 * time.Millisecond, StopAfter: 2 * time.Second, DeadAfter: 5 * time.Second,
		SecretPoll: 200 * time.Millisecond, NoTieBreaker: true}
	f.tweak = func(c *liveness.Config) { c.KeySwitchAfter, c.KeyGrace = switchAfter, 3*switchAfter }

	sp := []*speakerInst{f.start(names[0], ips[0]), f.start(names[1], ips[1])}
	inQuorum := func(s *speakerInst) bool {
		m := s.member.Load()
		return m != nil && m.Snapshot().InQuorum
	}
	f.eventually("both speakers in quorum", func() (bool, error) { return inQuorum(sp[0]) && inQuorum(sp[1]), nil })

	var lost atomic.Value
	watchCtx, stopWatch := context.WithCancel(f.ctx)
	var watch sync.WaitGroup
	watch.Go(func() {
		for watchCtx.Err() == nil {
			for _, s := range sp {
				if !inQuorum(s) {
					lost.Store(s.node)
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	rejected := func() uint64 {
		var n uint64
		for _, s := range sp {
			n += s.member.Load().Stats().RejectedMAC
		}
		return n
	}

	setSecret := func(value string) {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "memberlist"}}
		if err := f.c.Get(f.ctx, client.ObjectKeyFromObject(sec), sec); err != nil {
			t.Fatal(err)
		}
		sec.Data = map[string][]byte{"secretkey": []byte(value)}
		if err := f.c.Update(f.ctx, sec); err != nil {
			t.Fatal(err)
		}
	}
	// 1. Rotation in place. Wait past the switch and the grace period, so
	// that only the new key is left.
	setSecret("a rotated secret, 32 bytes long.")
	time.Sleep(switchAfter + 4*switchAfter)

	// 2. Deleted and recreated with another key.
	if err := f.c.Delete(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "memberlist"}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the speakers see it missing and keep their key
	if err := f.c.Create(f.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "memberlist"},
		Data: map[string][]byte{"secretkey": []byte("recreated with a third secret!!!")}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(switchAfter + 4*switchAfter)
	stopWatch()
	watch.Wait()
	if n := rejected(); n != 0 {
		t.Errorf("%d heartbeats rejected for their MAC during the rotations", n)
	}
	if who := lost.Load(); who != nil {
		t.Errorf("%s left the quorum during a rotation", who)
	}

	// 3. A restarted speaker knows only the newest key, and joins.
	sp[1].shutdown(t)
	sp[1] = f.start(names[1], ips[1])
	f.eventually("the restarted speaker and the other in quorum", func() (bool, error) {
		return inQuorum(sp[0]) && inQuorum(sp[1]), nil
	})
}
