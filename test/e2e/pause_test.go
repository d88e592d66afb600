package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/ironlb/ironlb/test/lab"
)

// pauseFor is how long the paused owner stays stopped: longer than the
// failover (DeadAfter 600 ms plus an Interval), so another node takes over
// meanwhile.
const pauseFor = 1500 * time.Millisecond

// TestPausedOwner: the speaker announcing the demo IP is stopped (SIGSTOP,
// like CPU throttling or a long GC pause) for 1.5 s, then resumed. Another
// node takes over during the pause. When the old owner resumes, it must not
// answer the ARP requests that queued up while it was stopped, nor count
// the heartbeats that queued up as fresh: no ARP request may be answered by
// two MACs, and the old owner must make no claim (ARP answer, gratuitous
// ARP) between the new owner's first claim and its last (the IP may then
// return to the old owner, the election's favourite, the normal way).
func TestPausedOwner(t *testing.T) {
	l := getLab(t)
	v4, _ := demoIPs(t, l)
	// Whether the old code answered stale requests depended on which of its
	// goroutines ran first after SIGCONT (3 in 10 trials of bench/failover),
	// so the pause is repeated.
	for i := range pauseRounds {
		t.Run(fmt.Sprintf("pause %d", i+1), func(t *testing.T) { pauseOwner(t, l, v4) })
	}
}

const pauseRounds = 3

func pauseOwner(t *testing.T, l *lab.Lab, v4 string) {
	owner := announcer(t, l, v4)
	oldMAC := l.DataMAC(owner)
	if oldMAC == "" {
		t.Fatalf("no MAC known for %s", lab.NodeName(owner))
	}
	p := probe(t, l, v4) // fails the test on any request answered by two MACs
	resume := once(func() error { return l.SignalSpeaker(owner, syscall.SIGCONT) })
	t.Cleanup(func() { _ = resume() })

	start := lab.MonoNow()
	if err := l.SignalSpeaker(owner, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(pauseFor) // the fault itself, not an assertion
	if err := resume(); err != nil {
		t.Fatal(err)
	}
	// The old owner rejoins and, as the election's favourite, gets the IP
	// back; everything up to then is examined.
	announcedBy(t, l, v4, owner)
	time.Sleep(time.Second) // let the last probe answers come in
	end := lab.MonoNow()

	late, took := lab.LateClaims(p.Claims(start, end), oldMAC)
	if took == 0 {
		t.Logf("no other node claimed %s during the %v pause (a slow machine); nothing to compare", v4, pauseFor)
	} else {
		t.Logf("another node claimed %s %v after the pause began", v4, time.Duration(took-start).Round(time.Millisecond))
	}
	if late != 0 {
		t.Errorf("the resumed old owner %s made %d claims for %s while another node held it", lab.NodeName(owner), late, v4)
	}
	if multi := p.MultiMACRounds(start, end); len(multi) != 0 {
		t.Errorf("%d ARP requests answered by two MACs around the pause, first %+v", len(multi), multi[0])
	}
}
