package liveness

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/ironlb/ironlb/internal/rendezvous"
)

var testKey = []byte("0123456789abcdef-test-key")

var (
	tI    = DefaultInterval
	tStop = DefaultStopAfter
	tDead = DefaultDeadAfter
)

// sim runs state machines on a fake clock and a fake network: no sockets, no
// sleeping. Datagrams take delay to arrive, unless drop says the link is
// down or loss strikes.
type sim struct {
	t       *testing.T
	now     time.Time
	delay   time.Duration
	members map[string]*simMember
	names   []string
	queue   []inflight
	drop    func(from, to string) bool
	loss    float64
	rng     *rand.Rand
	ips     []netip.Addr
	rank    map[netip.Addr][]string // names by election rank, per IP
	tie     map[string]bool         // tie breaker answers, when set
}

type simMember struct {
	name     string
	st       *state
	nextSend time.Time
	dead     bool // crashed or left: sends and hears nothing
}

type inflight struct {
	at       time.Time
	from, to string
	pkt      []byte
}

func newSim(t *testing.T, names ...string) *sim {
	s := &sim{
		t: t, now: time.Unix(1_000_000, 0), delay: time.Millisecond,
		members: map[string]*simMember{}, names: names,
		drop: func(string, string) bool { return false },
		rng:  rand.New(rand.NewPCG(7, 11)),
		rank: map[netip.Addr][]string{},
	}
	for i := range 16 {
		ip := netip.AddrFrom4([4]byte{203, 0, 113, byte(i + 1)})
		s.ips = append(s.ips, ip)
		r := slices.Clone(names)
		slices.SortFunc(r, func(a, b string) int {
			return cmp.Compare(rendezvous.Score(a, ip), rendezvous.Score(b, ip))
		})
		s.rank[ip] = r
	}
	for i, n := range names {
		s.start(n, time.Duration(i)*7*time.Millisecond)
	}
	return s
}

// start (re)starts a member with a new incarnation; its first heartbeat goes
// out after phase.
func (s *sim) start(name string, phase time.Duration) {
	st := newState(newTiming(tI, tStop, tDead), name, testKey, newIncarnation()) // ordered, like real ones
	peers := map[string]netip.AddrPort{}
	for _, n := range s.names {
		peers[n] = netip.AddrPort{}
	}
	st.setPeers(s.now, peers)
	st.run(s.now)
	_, st.tieAlone = s.tie[name]
	s.members[name] = &simMember{name: name, st: st, nextSend: s.now.Add(phase)}
}

func (s *sim) broadcast(from string, pkt []byte) {
	for _, to := range s.names {
		if to == from || s.drop(from, to) || (s.loss > 0 && s.rng.Float64() < s.loss) {
			continue
		}
		s.queue = append(s.queue, inflight{at: s.now.Add(s.delay), from: from, to: to, pkt: bytes.Clone(pkt)})
	}
}

// step advances the clock by one millisecond, delivers, sends and checks that
// no IP has two announcers.
func (s *sim) step() {
	s.now = s.now.Add(time.Millisecond)
	rest := s.queue[:0]
	for _, f := range s.queue {
		if f.at.After(s.now) {
			rest = append(rest, f)
			continue
		}
		if m := s.members[f.to]; !m.dead {
			if err := m.st.receive(s.now, f.pkt); err != nil && !(errors.Is(err, errUnknown) && m.st.peers[f.from] == nil) {
				s.t.Fatalf("%s rejected a genuine message from %s: %v", f.to, f.from, err)
			}
		}
	}
	s.queue = rest
	for _, n := range s.names {
		m := s.members[n]
		if m.dead {
			continue
		}
		if ans, ok := s.tie[n]; ok && m.st.wantTie(s.now) {
			m.st.tieResult(s.now, ans)
		}
		if m.st.sendNow || !s.now.Before(m.nextSend) {
			m.st.sendNow = false
			s.broadcast(n, m.st.heartbeat(s.now, nil))
			if !s.now.Before(m.nextSend) {
				m.nextSend = m.nextSend.Add(tI)
			}
		}
	}
	s.checkOneOwner()
}

func (s *sim) checkOneOwner() {
	views := map[string]View{}
	for _, n := range s.names {
		if m := s.members[n]; !m.dead {
			views[n] = m.st.view(s.now)
		}
	}
	for _, ip := range s.ips {
		var owners []string
		for n, v := range views {
			if !v.InQuorum {
				continue
			}
			for _, r := range s.rank[ip] { // first of the ranking that this member thinks alive
				if slices.Contains(v.Alive, r) {
					if r == n {
						owners = append(owners, n)
					}
					break
				}
			}
		}
		if len(owners) > 1 {
			s.t.Fatalf("at +%v %v is announced by %v; views %+v", s.elapsed(), ip, owners, views)
		}
	}
}

var simEpoch = time.Unix(1_000_000, 0)

func (s *sim) elapsed() time.Duration { return s.now.Sub(simEpoch) }

func (s *sim) run(d time.Duration) {
	for end := s.now.Add(d); s.now.Before(end); {
		s.step()
	}
}

// until steps until cond holds and returns how long it took; fails after max.
func (s *sim) until(max time.Duration, what string, cond func() bool) time.Duration {
	s.t.Helper()
	start := s.now
	for !cond() {
		if s.now.Sub(start) > max {
			s.t.Fatalf("after %v: still not %s", max, what)
		}
		s.step()
	}
	return s.now.Sub(start)
}

func (s *sim) view(n string) View { return s.members[n].st.view(s.now) }

func (s *sim) inQuorum(n string) bool { return s.view(n).InQuorum }

func (s *sim) sees(n, peer string) bool { return slices.Contains(s.view(n).Alive, peer) }

func (s *sim) allInQuorum() bool {
	for _, n := range s.names {
		if !s.members[n].dead && !s.inQuorum(n) {
			return false
		}
	}
	return true
}

// settle brings a fresh cluster to everyone in quorum, seeing everyone.
func (s *sim) settle() {
	s.t.Helper()
	s.until(2*time.Second, "all in quorum", s.allInQuorum)
	s.run(500 * time.Millisecond) // until every report says stable
	for _, n := range s.names {
		if got := s.view(n).Alive; !slices.Equal(got, s.names) {
			s.t.Fatalf("%s sees %v after settling, want %v", n, got, s.names)
		}
	}
}

func cut(groups ...[]string) func(from, to string) bool {
	side := map[string]int{}
	for i, g := range groups {
		for _, n := range g {
			side[n] = i
		}
	}
	return func(from, to string) bool { return side[from] != side[to] }
}

func TestStateMachine(t *testing.T) {
	abc := []string{"a", "b", "c"}
	cases := map[string]func(t *testing.T, s *sim){
		"a fresh cluster gets into quorum after the start hold": func(t *testing.T, s *sim) {
			took := s.until(2*time.Second, "all in quorum", s.allInQuorum)
			if min := newTiming(tI, tStop, tDead).startHold; took < min {
				t.Fatalf("in quorum after %v, before the start hold %v", took, min)
			}
		},
		"a member dies: the others mark it down after DeadAfter, not before": func(t *testing.T, s *sim) {
			s.settle()
			s.members["a"].dead = true
			died := s.now
			took := s.until(2*time.Second, "a down at b and c", func() bool { return !s.sees("b", "a") && !s.sees("c", "a") })
			// a's last heartbeat went out at most one Interval before it died.
			if took < tDead-tI {
				t.Fatalf("a marked down %v after dying, before DeadAfter−Interval", took)
			}
			if took > tDead+2*tI {
				t.Fatalf("a marked down only %v after dying", took)
			}
			if !s.inQuorum("b") || !s.inQuorum("c") {
				t.Fatal("survivors left quorum")
			}
			t.Logf("failover after crash: %v", s.now.Sub(died))
		},
		"partition {a} vs {b,c}: a stops at StopAfter, b and c mark it down later": func(t *testing.T, s *sim) {
			s.settle()
			s.drop = cut([]string{"a"}, []string{"b", "c"})
			stopped := s.until(time.Second, "a out of quorum", func() bool { return !s.inQuorum("a") })
			if stopped > tStop+tI {
				t.Fatalf("a stayed in quorum %v into the partition", stopped)
			}
			if !s.sees("b", "a") || !s.sees("c", "a") {
				t.Fatal("b or c dropped a before a stopped")
			}
			down := stopped + s.until(2*time.Second, "a down at b and c", func() bool { return !s.sees("b", "a") && !s.sees("c", "a") })
			if down < tDead-tI {
				t.Fatalf("a marked down %v into the partition", down)
			}
			t.Logf("a stopped after %v, marked down after %v", stopped, down)
			if s.inQuorum("a") || !s.inQuorum("b") || !s.inQuorum("c") {
				t.Fatal("wrong side in quorum")
			}
			s.drop = cut(abc)
			s.until(2*time.Second, "healed", func() bool { return s.allInQuorum() && s.sees("b", "a") && s.sees("c", "a") })
		},
		"asymmetric loss b→a: nobody marks anybody down": func(t *testing.T, s *sim) {
			s.settle()
			s.drop = func(from, to string) bool { return from == "b" && to == "a" }
			for range 3000 {
				s.step()
				for _, n := range abc {
					if v := s.view(n); !slices.Equal(v.Alive, abc) {
						t.Fatalf("at +%v %s sees %v", s.elapsed(), n, v.Alive)
					}
				}
			}
		},
		"a hears everybody but nobody hears a: a stops, the others take over": func(t *testing.T, s *sim) {
			s.settle()
			s.drop = func(from, to string) bool { return from == "a" }
			s.until(time.Second, "a out of quorum", func() bool { return !s.inQuorum("a") })
			s.until(2*time.Second, "a down at b and c", func() bool { return !s.sees("b", "a") && !s.sees("c", "a") })
		},
		"a's outbound links fail one after the other: no overlap": func(t *testing.T, s *sim) {
			// b has not heard a for long; c is a's only supporter. When a→c
			// fails too, b must not act on c's first "no longer hear a"
			// while a still holds c's last "a is stable".
			s.settle()
			// c heartbeats 60 ms after its usual phase, so one of its
			// reports falls after W but before StopAfter of a's last one.
			s.members["c"].nextSend = s.members["c"].nextSend.Add(60 * time.Millisecond)
			s.drop = func(from, to string) bool { return from == "a" && to == "b" }
			s.run(2 * time.Second)
			if !s.inQuorum("a") || !s.sees("b", "a") {
				t.Fatal("one-way loss a→b alone must change nothing")
			}
			// Cut right after c's heartbeat (74 ms after a's); c's later
			// reports to a are lost as well, so a lives on that last
			// "stable" for StopAfter, while c stops hearing a 74 ms earlier.
			s.until(time.Second, "c just sent", func() bool { return s.members["c"].nextSend.Sub(s.now) == tI })
			s.drop = func(from, to string) bool { return from == "a" || (from == "c" && to == "a") }
			s.until(2*time.Second, "a down at b and c", func() bool { return !s.sees("b", "a") && !s.sees("c", "a") })
		},
		"leave: the others drop the member at once": func(t *testing.T, s *sim) {
			s.settle()
			a := s.members["a"]
			for range leaveCopies {
				s.broadcast("a", a.st.leave(nil))
			}
			if a.st.view(s.now).InQuorum {
				t.Fatal("a still in quorum after leave")
			}
			a.dead = true
			took := s.until(time.Second, "a down at b and c", func() bool { return !s.sees("b", "a") && !s.sees("c", "a") })
			if took > 10*time.Millisecond {
				t.Fatalf("graceful failover took %v", took)
			}
			t.Logf("graceful failover: %v", took)
			s.start("a", 0) // comes back as a new incarnation
			s.until(2*time.Second, "a back", func() bool { return s.allInQuorum() && s.sees("b", "a") })
		},
		"leave with one copy lost by c still fails over": func(t *testing.T, s *sim) {
			s.settle()
			a := s.members["a"]
			s.broadcast("a", a.st.leave(nil))
			s.drop = func(from, to string) bool { return from == "a" && to == "c" }
			s.broadcast("a", a.st.leave(nil))
			a.dead = true
			s.until(200*time.Millisecond, "a down at b and c", func() bool { return !s.sees("b", "a") && !s.sees("c", "a") })
		},
		"a restarted member waits for stable support": func(t *testing.T, s *sim) {
			s.settle()
			s.members["a"].dead = true
			s.run(50 * time.Millisecond)
			s.start("a", 0)
			took := s.until(2*time.Second, "a back in quorum", func() bool { return s.inQuorum("a") })
			if hold := newTiming(tI, tStop, tDead).startHold; took < hold {
				t.Fatalf("restarted a in quorum after %v", took)
			}
		},
		"deaf a (sends, hears nothing) loses its IPs to b and c within 1 s, never two owners": func(t *testing.T, s *sim) {
			s.settle()
			s.drop = func(from, to string) bool { return to == "a" }
			took := s.until(time.Second, "a down at b and c", func() bool { return !s.sees("b", "a") && !s.sees("c", "a") })
			if s.inQuorum("a") || !s.inQuorum("b") || !s.inQuorum("c") {
				t.Fatal("wrong members in quorum")
			}
			t.Logf("deaf a replaced after %v", took)
			// a keeps sending while deaf: it must stay down, not flap.
			s.run(2 * time.Second)
			if s.sees("b", "a") || s.sees("c", "a") || s.inQuorum("a") {
				t.Fatal("deaf a came back while still deaf")
			}
			s.drop = cut(abc)
			s.until(2*time.Second, "a back", func() bool { return s.allInQuorum() && s.sees("b", "a") && s.sees("c", "a") })
		},
		"deaf a recovers just after being replaced: it re-enters only after the others revive it": func(t *testing.T, s *sim) {
			s.settle()
			s.drop = func(from, to string) bool { return to == "a" }
			s.until(time.Second, "a down at b", func() bool { return !s.sees("b", "a") })
			s.drop = cut(abc) // the one-owner check runs every millisecond
			s.until(2*time.Second, "a back", func() bool { return s.allInQuorum() && s.sees("b", "a") && s.sees("c", "a") })
		},
		"mute a (hears everybody, nobody hears it): replaced as if crashed": func(t *testing.T, s *sim) {
			s.settle()
			s.drop = func(from, to string) bool { return from == "a" }
			took := s.until(time.Second, "a down at b and c", func() bool { return !s.sees("b", "a") && !s.sees("c", "a") })
			t.Logf("mute a replaced after %v", took)
		},
		"a hears only b (half-connected): it still holds a majority and keeps its IPs": func(t *testing.T, s *sim) {
			s.settle()
			s.drop = func(from, to string) bool { return from == "c" && to == "a" }
			s.run(2 * time.Second)
			if !s.inQuorum("a") || !s.sees("b", "a") || !s.sees("c", "a") {
				t.Fatal("a half-connected member that hears a majority was dropped")
			}
		},
		"majority lost: everybody stops and nobody is declared down": func(t *testing.T, s *sim) {
			s.settle()
			s.drop = cut([]string{"a"}, []string{"b"}, []string{"c"})
			s.until(time.Second, "all out of quorum", func() bool {
				return !s.inQuorum("a") && !s.inQuorum("b") && !s.inQuorum("c")
			})
			s.run(2 * time.Second)
			for _, n := range abc {
				if v := s.view(n); len(v.Alive) != 2 {
					t.Fatalf("%s sees %v; without a majority nobody may be declared down", n, v.Alive)
				}
			}
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) { tc(t, newSim(t, abc...)) })
	}
}

func TestTwoMembers(t *testing.T) {
	cases := map[string]struct {
		tie        map[string]bool
		wantQuorum map[string]bool // after the link breaks
	}{
		"no tie breaker: both stop":         {wantQuorum: map[string]bool{"a": false, "b": false}},
		"tie breaker picks a: a carries on": {tie: map[string]bool{"a": true, "b": false}, wantQuorum: map[string]bool{"a": true, "b": false}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := newSim(t, "a", "b")
			s.tie = tc.tie
			s.settle()
			s.drop = cut([]string{"a"}, []string{"b"})
			s.run(2 * time.Second)
			for n, want := range tc.wantQuorum {
				if got := s.inQuorum(n); got != want {
					t.Errorf("%s in quorum = %v, want %v", n, got, want)
				}
			}
			if tc.tie["a"] && s.sees("a", "b") {
				t.Error("a, holding the tie, still sees b after DeadAfter")
			}
			if !tc.tie["a"] && (!s.sees("a", "b") || !s.sees("b", "a")) {
				t.Error("without a tie breaker nobody may be declared down")
			}
			s.drop = cut([]string{"a", "b"})
			s.until(2*time.Second, "healed", func() bool { return s.allInQuorum() && s.sees("a", "b") && s.sees("b", "a") })
		})
	}
}

// TestRandomFaultsNeverTwoOwners throws loss, link cuts (one-way and both),
// crashes, restarts and leaves at five members and checks, every simulated
// millisecond, that no IP has two announcers. Then everything heals and the
// cluster must come back whole.
func TestRandomFaultsNeverTwoOwners(t *testing.T) {
	seeds := 6
	if testing.Short() {
		seeds = 2
	}
	names := []string{"n1", "n2", "n3", "n4", "n5"}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := newSim(t, names...)
			s.rng = rand.New(rand.NewPCG(uint64(seed), 99))
			s.delay = time.Duration(1+seed%3) * 10 * time.Millisecond / 10 // 1-3 ms
			s.settle()
			broken := map[[2]string]bool{}
			s.drop = func(from, to string) bool { return broken[[2]string{from, to}] }
			s.loss = 0.1
			for range 150 { // about 15 s of simulated chaos
				n := names[s.rng.IntN(len(names))]
				o := names[s.rng.IntN(len(names))]
				switch r := s.rng.IntN(10); {
				case r < 4 && n != o:
					broken[[2]string{n, o}] = !broken[[2]string{n, o}]
				case r < 5:
					for _, x := range names {
						broken[[2]string{n, x}], broken[[2]string{x, n}] = true, true
					}
				case r < 6 && s.rng.IntN(2) == 0:
					clear(broken)
				case r < 6: // n goes deaf: it sends but hears nothing
					for _, x := range names {
						broken[[2]string{x, n}] = true
					}
				case r < 7 && !s.members[n].dead:
					s.members[n].dead = true
				case r < 8 && !s.members[n].dead:
					for range leaveCopies {
						s.broadcast(n, s.members[n].st.leave(nil))
					}
					s.members[n].dead = true
				case s.members[n].dead:
					s.start(n, 0)
				}
				s.run(time.Duration(20+s.rng.IntN(180)) * time.Millisecond)
			}
			clear(broken)
			s.loss = 0
			for _, n := range names {
				if s.members[n].dead {
					s.start(n, 0)
				}
			}
			s.until(3*time.Second, "whole again", func() bool {
				if !s.allInQuorum() {
					return false
				}
				for _, n := range names {
					if !slices.Equal(s.view(n).Alive, names) {
						return false
					}
				}
				return true
			})
		})
	}
}

// TestDeadlines checks that nextDeadline names the instant the view changes
// when nothing arrives, so Run can sleep until then.
func TestDeadlines(t *testing.T) {
	s := newSim(t, "a", "b", "c")
	s.settle()
	s.drop = cut([]string{"a"}, []string{"b", "c"})
	a := s.members["a"].st
	s.run(tI) // let the last messages land
	for a.view(s.now).InQuorum {
		d := a.nextDeadline(s.now)
		if d.IsZero() {
			t.Fatal("no deadline while in quorum on borrowed time")
		}
		if a.view(d.Add(-time.Nanosecond)).InQuorum != a.view(s.now).InQuorum {
			t.Fatal("view changed before the deadline")
		}
		s.now = d
	}
}

// TestDeafAmongFive: a member that hears only one of four peers hears no
// majority; the others, who all hear it, replace it within a second.
func TestDeafAmongFive(t *testing.T) {
	names := []string{"n1", "n2", "n3", "n4", "n5"}
	cases := map[string]func(from, to string) bool{
		"n1 hears nobody":       func(from, to string) bool { return to == "n1" },
		"n1 hears only n2":      func(from, to string) bool { return to == "n1" && from != "n2" },
		"n1 hears n2, n3 sends": func(from, to string) bool { return to == "n1" && from != "n2" || from == "n1" && to == "n3" },
	}
	for name, drop := range cases {
		t.Run(name, func(t *testing.T) {
			s := newSim(t, names...)
			s.settle()
			s.drop = drop
			took := s.until(time.Second, "n1 down at the others", func() bool {
				for _, n := range names[1:] {
					if s.sees(n, "n1") || !s.inQuorum(n) {
						return false
					}
				}
				return true
			})
			t.Logf("replaced after %v", took)
			s.drop = cut(names)
			s.until(2*time.Second, "n1 back", func() bool { return s.allInQuorum() && s.sees("n2", "n1") })
		})
	}
}

// setPeers gives member n the expected set names (what its speaker read from
// the Node annotations).
func (s *sim) setPeers(n string, names ...string) {
	peers := map[string]netip.AddrPort{}
	for _, x := range names {
		peers[x] = netip.AddrPort{}
	}
	s.members[n].st.setPeers(s.now, peers)
}

// TestMembershipChanges: the expected set changes one member at a time, at
// different members at different times, during faults. One owner per IP at
// every millisecond.
func TestMembershipChanges(t *testing.T) {
	cases := map[string]func(t *testing.T, s *sim){
		"d joins, seen by a, b, c one after the other, during a partition {a} | {b,c}": func(t *testing.T, s *sim) {
			for _, n := range []string{"a", "b", "c"} {
				s.setPeers(n, "a", "b", "c")
			}
			s.members["d"].dead = true
			s.settle3("a", "b", "c")
			s.start("d", 0)
			s.setPeers("d", "a", "b", "c", "d")
			s.drop = cut([]string{"a"}, []string{"b", "c", "d"})
			for _, n := range []string{"a", "b", "c"} {
				s.run(150 * time.Millisecond)
				s.setPeers(n, "a", "b", "c", "d")
			}
			s.run(2 * time.Second)
			s.drop = cut([]string{"a", "b", "c", "d"})
			s.until(3*time.Second, "all four in quorum", func() bool {
				return s.allInQuorum() && len(s.view("a").Alive) == 4 && len(s.view("d").Alive) == 4
			})
		},
		"d leaves (goodbye), then a, b, c drop it one after the other": func(t *testing.T, s *sim) {
			s.settle()
			for range leaveCopies {
				s.broadcast("d", s.members["d"].st.leave(nil))
			}
			s.members["d"].dead = true
			s.until(time.Second, "d down at a", func() bool { return !s.sees("a", "d") })
			for _, n := range []string{"c", "a", "b"} {
				s.run(150 * time.Millisecond)
				s.setPeers(n, "a", "b", "c")
			}
			s.run(time.Second)
			if !s.inQuorum("a") || !s.inQuorum("b") || !s.inQuorum("c") {
				t.Fatal("three of three not in quorum after d left")
			}
		},
		"crashed d is dropped by the majority, then c crashes: a and b keep quorum": func(t *testing.T, s *sim) {
			s.settle()
			s.members["d"].dead = true
			s.until(2*time.Second, "d down at a", func() bool { return !s.sees("a", "d") && !s.sees("b", "d") && !s.sees("c", "d") })
			for _, n := range []string{"b", "a", "c"} {
				s.setPeers(n, "a", "b", "c")
				s.run(50 * time.Millisecond)
			}
			s.run(time.Second)
			s.members["c"].dead = true
			s.until(2*time.Second, "c down at a and b", func() bool { return !s.sees("a", "c") && !s.sees("b", "c") })
			if !s.inQuorum("a") || !s.inQuorum("b") {
				t.Fatal("a and b lost quorum though they are 2 of 3")
			}
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) { tc(t, newSim(t, "a", "b", "c", "d")) })
	}
}

// settle3 is settle for a subset of the members (the others are dead).
func (s *sim) settle3(names ...string) {
	s.t.Helper()
	s.until(3*time.Second, "subset in quorum", func() bool {
		for _, n := range names {
			if !s.inQuorum(n) || len(s.view(n).Alive) != len(names) {
				return false
			}
		}
		return true
	})
}

// TestHearsMajorityEntry: the "hears a majority" flag rides in an entry about
// the sender itself, so heartbeats from older speakers (no such entry) still
// count as hearing a majority.
func TestHearsMajorityEntry(t *testing.T) {
	cases := map[string]struct {
		self     bool
		flags    uint8
		wantDeaf bool
	}{
		"no self entry (older sender): hears a majority": {},
		"self entry with the flag: hears a majority":     {self: true, flags: reportHearsMajority},
		"self entry without the flag: deaf":              {self: true, wantDeaf: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			now := simEpoch
			st := newState(newTiming(tI, tStop, tDead), "a", testKey, 1)
			st.setPeers(now, map[string]netip.AddrPort{"b": {}, "c": {}})
			st.run(now)
			m := message{kind: kindHeartbeat, incarnation: 5, seq: 1, name: "b"}
			if tc.self {
				m.entries = []entry{{id: peerID("b"), flags: tc.flags}}
			}
			if err := st.receive(now, encode(nil, newMAC(testKey), &m)); err != nil {
				t.Fatal(err)
			}
			if got := !st.peers["b"].deafSince.IsZero(); got != tc.wantDeaf {
				t.Fatalf("deaf = %v, want %v", got, tc.wantDeaf)
			}
			if gone := st.ownGone(now.Add(newTiming(tI, tStop, tDead).deafAfter), st.peers["b"]); gone != tc.wantDeaf {
				t.Fatalf("gone after deafAfter = %v, want %v", gone, tc.wantDeaf)
			}
		})
	}
}

// TestJoinWithTieBreaker: a is alone in its set; b starts and counts {a, b}
// before a has added b. b uses the tie breaker against a, so a, alone, must
// hold it too: otherwise both are in quorum and both announce.
func TestJoinWithTieBreaker(t *testing.T) {
	s := newSim(t, "a", "b")
	s.tie = map[string]bool{}
	lease := "" // one holder at a time
	s.members["b"].dead = true
	s.setPeers("a")
	s.members["a"].st.tieAlone = true
	// The tie breaker: the first to ask holds it while it keeps asking.
	for range 3000 {
		for _, n := range []string{"a", "b"} {
			m := s.members[n]
			if m.dead || !m.st.wantTie(s.now) {
				continue
			}
			if lease == "" || lease == n {
				lease = n
				m.st.tieResult(s.now, true)
			} else {
				m.st.tieResult(s.now, false)
			}
		}
		s.step()
		if s.now.Sub(simEpoch) == time.Second {
			s.start("b", 0)
			s.members["b"].st.tieAlone = true
		}
		if s.now.Sub(simEpoch) == 2*time.Second {
			s.setPeers("a", "a", "b")
		}
	}
	if !s.inQuorum("a") || !s.inQuorum("b") {
		t.Fatal("a and b not both in quorum after a added b")
	}
}
