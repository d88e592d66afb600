package liveness

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

var quiet = slog.New(slog.DiscardHandler)

// freePorts reserves n UDP ports on 127.0.0.1 by binding and releasing them.
func freePorts(t *testing.T, n int) []netip.AddrPort {
	t.Helper()
	var out []netip.AddrPort
	var conns []*net.UDPConn
	for range n {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		out = append(out, c.LocalAddr().(*net.UDPAddr).AddrPort())
	}
	for _, c := range conns {
		c.Close()
	}
	return out
}

// waitFor polls cond with a generous deadline: the machine is shared, so the
// test asserts outcomes, not timings.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestThreeMembersOverLoopback runs three members on real UDP sockets:
// they form a quorum, one leaves and the other two drop it, then a second
// one stops silently and the last one loses quorum.
func TestThreeMembersOverLoopback(t *testing.T) {
	names := []string{"a", "b", "c"}
	addrs := freePorts(t, len(names))
	peers := map[string]netip.AddrPort{}
	for i, n := range names {
		peers[n] = addrs[i]
	}
	members := map[string]*Member{}
	cancels := map[string]context.CancelFunc{}
	var wg sync.WaitGroup
	for i, n := range names {
		m, err := New(Config{Self: n, Key: testKey, Logger: quiet, Listen: addrs[i].String()})
		if err != nil {
			t.Fatal(err)
		}
		m.SetPeers(peers)
		ctx, cancel := context.WithCancel(t.Context())
		members[n], cancels[n] = m, cancel
		wg.Go(func() {
			if err := m.Run(ctx); err != nil {
				t.Errorf("%s: Run: %v", n, err)
			}
		})
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()

	sees := func(n string, want ...string) bool {
		v := members[n].Snapshot()
		return slices.Equal(v.Alive, want)
	}
	waitFor(t, "everyone in quorum seeing everyone", func() bool {
		for _, n := range names {
			if v := members[n].Snapshot(); !v.InQuorum || !slices.Equal(v.Alive, names) {
				return false
			}
		}
		return true
	})
	select {
	case <-members["a"].Changes():
	default:
		t.Error("no change notified while a joined the quorum")
	}

	members["a"].Leave()
	if members["a"].Snapshot().InQuorum {
		t.Fatal("a in quorum after Leave")
	}
	waitFor(t, "b and c to drop a", func() bool {
		return sees("b", "b", "c") && sees("c", "b", "c")
	})

	cancels["c"]() // c vanishes without a word
	waitFor(t, "b out of quorum", func() bool { return !members["b"].Snapshot().InQuorum })
	if members["c"].Snapshot().InQuorum {
		t.Error("c in quorum after Run returned")
	}

	st := members["b"].Stats()
	if st.Accepted == 0 || st.LeavesReceived == 0 || st.RejectedMAC != 0 || st.Sent == 0 {
		t.Errorf("b's stats look wrong: %+v", st)
	}
}

// TestForeignDatagramsAreCounted sends garbage and a forged heartbeat to a
// running member.
func TestForeignDatagramsAreCounted(t *testing.T) {
	addrs := freePorts(t, 2)
	m, err := New(Config{Self: "a", Key: testKey, Logger: quiet, Listen: addrs[0].String()})
	if err != nil {
		t.Fatal(err)
	}
	m.SetPeers(map[string]netip.AddrPort{"b": addrs[1]})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()

	forger := newState(newTiming(tI, tStop, tDead), "b", []byte("not the key at all!!"), 5)
	forger.setPeers(time.Now(), map[string]netip.AddrPort{"a": addrs[0]})
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addrs[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitFor(t, "both datagrams counted", func() bool {
		conn.Write([]byte("hello"))
		conn.Write(forger.heartbeat(time.Now(), nil))
		s := m.Stats()
		return s.RejectedMalformed > 0 && s.RejectedMAC > 0
	})
	if s := m.Stats(); s.Accepted != 0 {
		t.Fatalf("accepted a foreign datagram: %+v", s)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := Config{Self: "a", Key: testKey, Logger: quiet, Listen: "127.0.0.1:7947"}
	cases := map[string]struct {
		mutate  func(*Config)
		wantErr bool
	}{
		"defaults are valid":               {func(*Config) {}, false},
		"no name":                          {func(c *Config) { c.Self = "" }, true},
		"short key":                        {func(c *Config) { c.Key = []byte("short") }, true},
		"listen without port":              {func(c *Config) { c.Listen = "127.0.0.1" }, true},
		"StopAfter not above Interval":     {func(c *Config) { c.Interval, c.StopAfter = 100*time.Millisecond, 100*time.Millisecond }, true},
		"DeadAfter too close to StopAfter": {func(c *Config) { c.DeadAfter = 500 * time.Millisecond }, true},
		"custom timings that satisfy the rules": {func(c *Config) {
			c.Interval, c.StopAfter, c.DeadAfter = 50*time.Millisecond, 150*time.Millisecond, 300*time.Millisecond
		}, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			c := ok
			tc.mutate(&c)
			_, err := New(c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New: err = %v, wantErr %v", err, tc.wantErr)
			}
		})
	}
}

// TestTieBreakerOverLoopback: two members, a holds the tie; when b goes away
// a stays in quorum and drops b.
func TestTieBreakerOverLoopback(t *testing.T) {
	addrs := freePorts(t, 2)
	peers := map[string]netip.AddrPort{"a": addrs[0], "b": addrs[1]}
	var wg sync.WaitGroup
	defer wg.Wait()
	start := func(name string, listen netip.AddrPort, wins bool) (*Member, context.CancelFunc) {
		m, err := New(Config{Self: name, Key: testKey, Logger: quiet, Listen: listen.String(),
			TieBreaker: func(context.Context) bool { return wins }})
		if err != nil {
			t.Fatal(err)
		}
		m.SetPeers(peers)
		ctx, cancel := context.WithCancel(t.Context())
		wg.Go(func() { m.Run(ctx) })
		return m, cancel
	}
	a, cancelA := start("a", addrs[0], true)
	defer cancelA()
	b, cancelB := start("b", addrs[1], false)
	waitFor(t, "a and b in quorum", func() bool {
		return a.Snapshot().InQuorum && b.Snapshot().InQuorum && len(a.Snapshot().Alive) == 2
	})
	cancelB()
	waitFor(t, "a alone in quorum", func() bool {
		v := a.Snapshot()
		return v.InQuorum && slices.Equal(v.Alive, []string{"a"})
	})
	if s := a.Stats(); s.TieBreakerWins == 0 {
		t.Errorf("a never asked the tie breaker: %+v", s)
	}
}
