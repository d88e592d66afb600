package lab

import "testing"

// TestProbeParse: the probe's output lines become replies, ARP rounds (with
// answers attributed per request) and gratuitous ARPs.
func TestProbeParse(t *testing.T) {
	p := &Probe{arp: map[int64]*ARPRound{}}
	for _, line := range []string{
		"T 1 100 150 node-1",
		"F 2 110",
		"A 1 100 02:00:00:00:01:01",
		"A 1 100 02:00:00:00:01:01", // same MAC twice: one entry
		"A 2 120 02:00:00:00:01:02",
		"A 2 120 02:00:00:00:01:01",
		"G 130 02:00:00:00:01:02",
		"garbage",
		"T 3 200 250 node-2",
	} {
		p.parse(line)
	}
	if rs := p.Replies(0); len(rs) != 2 || rs[0].Node != "node-1" || rs[1].Sent != 200 {
		t.Fatalf("replies: %+v", rs)
	}
	if rs := p.Replies(150); len(rs) != 1 || rs[0].Node != "node-2" {
		t.Fatalf("replies since 150: %+v", rs)
	}
	if p.Failures() != 1 {
		t.Fatalf("failures: %d", p.Failures())
	}
	if r := p.ARPRounds(0, 1000); len(r) != 2 || len(r[0].MACs) != 1 {
		t.Fatalf("rounds: %+v", r)
	}
	if m := p.MultiMACRounds(0, 1000); len(m) != 1 || m[0].Round != 2 {
		t.Fatalf("multi: %+v", m)
	}
	if g := p.GARPs(0, 1000); len(g) != 1 || g[0].MAC != "02:00:00:00:01:02" {
		t.Fatalf("garps: %+v", g)
	}
}

func TestNodeIndex(t *testing.T) {
	for name, want := range map[string]int{"node-1": 1, "node-12": 12, "node-": 0, "x-1": 0, "": 0} {
		if got := NodeIndex(name); got != want {
			t.Errorf("NodeIndex(%q) = %d, want %d", name, got, want)
		}
	}
}
