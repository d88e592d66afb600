package e2e

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/speaker"
	"github.com/ironlb/ironlb/test/lab"
)

// demoIPs returns the demo Service's IPv4 and IPv6 addresses.
func demoIPs(t *testing.T, l *lab.Lab) (string, string) {
	t.Helper()
	ips, err := l.WaitServiceIPs(ctxT(t), "default", lab.DemoSvc, 2, settle)
	if err != nil {
		t.Fatal(err)
	}
	allMembers(t, l)
	settledAnnouncer(t, l, ips[0])
	return ips[0], ips[1]
}

// allMembers waits until every lab node's speaker is a liveness member again
// (a speaker evicted by an earlier test republishes its address within
// seconds), then lets the one-change-a-second membership steps reach every
// speaker. Without it a test can start with a two-member set, where the
// Lease, not a majority, decides.
func allMembers(t *testing.T, l *lab.Lab) {
	t.Helper()
	for _, i := range l.AllNodes() {
		eventually(t, failover, lab.NodeName(i)+" is a liveness member", func() (bool, string) {
			var n corev1.Node
			if err := l.Kube().Get(ctxT(t), client.ObjectKey{Name: lab.NodeName(i)}, &n); err != nil {
				return false, err.Error()
			}
			v := n.Annotations[speaker.LivenessAnnotation]
			return v != "", fmt.Sprintf("%s=%q", speaker.LivenessAnnotation, v)
		})
	}
	// Settling, not an assertion: membership changes reach liveness one per
	// MembershipStep (1 s) on each speaker.
	time.Sleep(time.Duration(len(l.AllNodes())+1) * time.Second)
}

// settledAnnouncer waits until the same node has answered for ip 15 times in
// a row: right after the lab starts, the first speaker up serves alone until
// the others have joined its liveness member set, then the owner moves.
func settledAnnouncer(t *testing.T, l *lab.Lab, ip string) int {
	t.Helper()
	owner, same := announcer(t, l, ip), 0
	for same < 15 {
		if a := announcer(t, l, ip); a == owner {
			same++
		} else {
			owner, same = a, 0
		}
	}
	return owner
}

// probe runs the client probe against ip for the rest of the test and, at
// the end, fails the test if any ARP request was ever answered by two MACs.
func probe(t *testing.T, l *lab.Lab, ip string) *lab.Probe {
	t.Helper()
	p, err := l.StartProbe(netip.MustParseAddr(ip), lab.ProbeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := lab.MonoNow()
	t.Cleanup(func() {
		end := lab.MonoNow()
		p.Stop()
		rounds := p.ARPRounds(start, end)
		if multi := p.MultiMACRounds(start, end); len(multi) > 0 {
			t.Errorf("split brain: %d of %d ARP requests for %s were answered by two MACs, first: %+v", len(multi), len(rounds), ip, multi[0])
		} else {
			t.Logf("%d ARP requests for %s, none answered by two MACs", len(rounds), ip)
		}
	})
	return p
}

// once makes a repair idempotent (run by the test or by its cleanup).
func once(f func() error) func() error {
	var o sync.Once
	var err error
	return func() error { o.Do(func() { err = f() }); return err }
}

// TestFailover: the node announcing the demo Service fails (speaker SIGKILL,
// data link down, speaker SIGTERM); another node takes both IPs, the client's
// traffic flows through it, and after the repair the IP returns. At no point
// do two nodes answer (client probe sampling ARP every 20 ms).
func TestFailover(t *testing.T) {
	l := getLab(t)
	v4, v6 := demoIPs(t, l)
	faults := []struct {
		name           string
		inject, repair func(int) error
	}{
		{"SIGKILL", l.KillSpeaker, func(i int) error { return l.StartSpeaker(i) }},
		{"link down", l.LinkDown, l.LinkUp},
		{"graceful stop", l.StopSpeaker, func(i int) error { return l.StartSpeaker(i) }},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			owner := announcer(t, l, v4)
			p := probe(t, l, v4)
			dialedBy(t, l, v4, 80, owner)
			repair := once(func() error { return f.repair(owner) })
			t.Cleanup(func() { _ = repair() })
			start := time.Now()
			if err := f.inject(owner); err != nil {
				t.Fatal(err)
			}
			to := waitTakeover(t, l, p, v4, owner)
			t.Logf("%s: %s -> %s, client traffic moved within %v (coarse; see bench/failover)", f.name, lab.NodeName(owner), lab.NodeName(to), time.Since(start).Round(10*time.Millisecond))
			announcedBy(t, l, v6, to)
			dialedBy(t, l, v6, 80, to)
			// What kubectl shows follows: the new node's status only (a
			// crashed speaker's leftover is removed), and its event.
			ctx := ctxT(t)
			eventually(t, settle, "ServiceL2Status names only "+lab.NodeName(to), func() (bool, string) {
				st, err := l.ServiceL2Statuses(ctx, "default", lab.DemoSvc)
				_, ok := st[lab.NodeName(to)]
				return err == nil && ok && len(st) == 1, fmt.Sprint(st, err)
			})
			eventually(t, settle, "nodeAssigned event from "+lab.NodeName(to), func() (bool, string) {
				return hasEvent(ctx, l, lab.DemoSvc, "nodeAssigned", fmt.Sprintf("announcing from node %q", lab.NodeName(to)))
			})

			if err := repair(); err != nil {
				t.Fatal(err)
			}
			announcedBy(t, l, v4, owner)
			announcedBy(t, l, v6, owner)
			dialedBy(t, l, v4, 80, owner)
		})
	}
}

// TestPartition: the speakers' liveness traffic is partitioned (the client
// and the apiserver still reach everyone). The isolated owner stops and the
// majority takes over; an isolated non-owner does not grab the IP; with every
// node isolated nobody announces. Never two MACs for one IP.
func TestPartition(t *testing.T) {
	l := getLab(t)
	v4, v6 := demoIPs(t, l)
	heal := func() {
		if err := l.Net.Heal(); err != nil {
			t.Errorf("heal: %v", err)
		}
	}
	t.Cleanup(heal)
	// sample checks the client never sees two answers during a while.
	sample := func(t *testing.T, rounds int, want func(v4, v6 []int) error) {
		for r := 0; r < rounds; r++ {
			a4, err := l.Announcers(v4)
			if err != nil {
				t.Fatal(err)
			}
			a6, err := l.Announcers(v6)
			if err != nil {
				t.Fatal(err)
			}
			if len(a4) > 1 || len(a6) > 1 {
				t.Fatalf("split brain: %s by %v, %s by %v", v4, a4, v6, a6)
			}
			if err := want(a4, a6); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("owner isolated", func(t *testing.T) {
		allMembers(t, l)
		owner := announcer(t, l, v4)
		p := probe(t, l, v4)
		if err := l.Net.Partition([]int{owner}, others(l, owner)); err != nil {
			t.Fatal(err)
		}
		defer heal()
		to := waitTakeover(t, l, p, v4, owner)
		sample(t, 10, func(a4, a6 []int) error {
			// KNOWN GAP (issue 6, see the session note): about a second after
			// the takeover the majority evicts the isolated owner (3 -> 2
			// members) and the survivors can leave quorum for about a second,
			// so a probe may go unanswered. Checked here: never another node.
			for _, a := range [][]int{a4, a6} {
				if len(a) == 1 && a[0] != to {
					return fmt.Errorf("during the partition want only %s, got %v / %v", lab.NodeName(to), a4, a6)
				}
			}
			if len(a4) == 0 || len(a6) == 0 {
				t.Logf("during the partition a probe went unanswered: %v / %v (known gap, issue 6)", a4, a6)
			}
			return nil
		})
		heal()
		announcedBy(t, l, v4, owner)
		announcedBy(t, l, v6, owner)
	})

	t.Run("non-owner isolated", func(t *testing.T) {
		allMembers(t, l)
		owner := announcer(t, l, v4)
		x := others(l, owner)[0]
		p := probe(t, l, v4)
		if err := l.Net.Partition([]int{x}, others(l, x)); err != nil {
			t.Fatal(err)
		}
		defer heal()
		sample(t, 10, func(a4, a6 []int) error {
			if len(a4) != 1 || a4[0] != owner {
				return fmt.Errorf("want only %s, got %v", lab.NodeName(owner), a4)
			}
			return nil
		})
		if r, ok := p.LastReply(); !ok || r.Node != lab.NodeName(owner) {
			t.Fatalf("client traffic: %+v", r)
		}
	})

	t.Run("every node isolated", func(t *testing.T) {
		allMembers(t, l)
		owner := announcer(t, l, v4)
		p := probe(t, l, v4)
		_ = p
		if err := l.Net.Partition([]int{1}, []int{2}, []int{3}); err != nil {
			t.Fatal(err)
		}
		defer heal()
		// No majority anywhere: every speaker stops (the IP goes dark rather
		// than being answered by several nodes).
		announcedBy(t, l, v4, 0)
		announcedBy(t, l, v6, 0)
		sample(t, 5, func(a4, a6 []int) error {
			if len(a4)+len(a6) != 0 {
				return fmt.Errorf("without quorum nobody may answer, got %v / %v", a4, a6)
			}
			return nil
		})
		heal()
		announcedBy(t, l, v4, owner)
	})
}

// waitTakeover waits until a node other than owner alone answers for ip and the
// client's traffic flows through it; two answering nodes at any check fail the test.
func waitTakeover(t *testing.T, l *lab.Lab, p *lab.Probe, ip string, owner int) int {
	t.Helper()
	var to int
	eventually(t, failover, "another node takes "+ip, func() (bool, string) {
		got, err := l.Announcers(ip)
		if err != nil {
			return false, err.Error()
		}
		if len(got) > 1 {
			t.Fatalf("two nodes answer for %s: %v", ip, got)
		}
		if len(got) == 1 && got[0] > 0 && got[0] != owner {
			to = got[0]
			return true, ""
		}
		return false, fmt.Sprint(got)
	})
	eventually(t, failover, "client traffic through "+lab.NodeName(to), func() (bool, string) {
		r, ok := p.LastReply()
		return ok && r.Node == lab.NodeName(to), fmt.Sprint(r)
	})
	return to
}
