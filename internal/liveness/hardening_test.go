package liveness

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// timestampOOB builds the control message the kernel attaches with
// SO_TIMESTAMPNS.
func timestampOOB(t time.Time) []byte {
	oob := make([]byte, unix.CmsgSpace(16))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS
	h.SetLen(unix.CmsgLen(16))
	data := oob[unix.CmsgLen(0):]
	binary.NativeEndian.PutUint64(data[0:], uint64(t.Unix()))
	binary.NativeEndian.PutUint64(data[8:], uint64(t.Nanosecond()))
	return oob
}

func TestArrival(t *testing.T) {
	now := time.Now() // with a monotonic reading
	wall := now
	cases := map[string]struct {
		oob  []byte
		want time.Time
	}{
		"a datagram stamped 1.5 s ago arrived 1.5 s ago":               {timestampOOB(wall.Add(-1500 * time.Millisecond)), now.Add(-1500 * time.Millisecond)},
		"no stamp: the read instant":                                   {nil, now},
		"garbage control data: the read instant":                       {[]byte{1, 2, 3}, now},
		"a stamp in the future (clock stepped back): the read instant": {timestampOOB(wall.Add(time.Second)), now},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := arrival(now, wall, tc.oob)
			if d := got.Sub(tc.want); d < -time.Microsecond || d > time.Microsecond {
				t.Fatalf("arrival = %v, want %v", got, tc.want)
			}
			if got.Round(0) == got {
				t.Fatal("arrival lost the monotonic reading")
			}
		})
	}
}

// TestPausedMemberIgnoresHeartbeatsQueuedDuringThePause: a member that is
// stopped for a second must not count the heartbeats that queued up while it
// was stopped as fresh: they were sent before its peers gave up on it. The
// pause is the member's lock held by the test (its reader and its loop both
// stop, the socket keeps queueing); its peers send one more heartbeat each,
// still reporting it stable, and go silent.
func TestPausedMemberIgnoresHeartbeatsQueuedDuringThePause(t *testing.T) {
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
		wg.Go(func() { m.Run(ctx) })
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()
	a := members["a"]
	waitFor(t, "a in quorum", func() bool { return a.Snapshot().InQuorum })

	sentB, sentC := members["b"].Stats().Sent, members["c"].Stats().Sent
	received := a.Stats().Received
	a.mu.Lock() // a stops
	waitFor(t, "b and c to send once more", func() bool {
		return members["b"].Stats().Sent > sentB+1 && members["c"].Stats().Sent > sentC+1
	})
	cancels["b"]()
	cancels["c"]()
	time.Sleep(2 * DefaultStopAfter) // what queued is now older than StopAfter
	a.mu.Unlock()                    // a resumes

	waitFor(t, "a to read what queued", func() bool { return a.Stats().Received >= received+4 })
	if v := a.Snapshot(); v.InQuorum {
		t.Fatal("a is back in quorum on heartbeats that arrived while it was stopped")
	}
}

// TestQuorumDeadline: the member tells its deadline hook until when it is in
// quorum, and the zero time once it is not.
func TestQuorumDeadline(t *testing.T) {
	addrs := freePorts(t, 3)
	peers := map[string]netip.AddrPort{"a": addrs[0], "b": addrs[1], "c": addrs[2]}
	var until atomic.Pointer[time.Time]
	var wg sync.WaitGroup
	defer wg.Wait()
	var cancels []context.CancelFunc
	defer func() {
		for _, c := range cancels {
			c()
		}
	}()
	var a *Member
	for i, n := range []string{"a", "b", "c"} {
		cfg := Config{Self: n, Key: testKey, Logger: quiet, Listen: addrs[i].String()}
		if n == "a" {
			cfg.QuorumDeadline = func(u time.Time) { until.Store(&u) }
		}
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if n == "a" {
			a = m
		}
		m.SetPeers(peers)
		ctx, cancel := context.WithCancel(t.Context())
		cancels = append(cancels, cancel)
		wg.Go(func() { m.Run(ctx) })
	}
	waitFor(t, "a in quorum with a deadline ahead", func() bool {
		u := until.Load()
		return a.Snapshot().InQuorum && u != nil && time.Now().Before(*u)
	})
	if u := *until.Load(); time.Until(u) > DefaultStopAfter {
		t.Fatalf("deadline %v ahead, more than StopAfter", time.Until(u))
	}
	cancels[1]()
	cancels[2]()
	waitFor(t, "a out of quorum with a zero deadline", func() bool {
		u := until.Load()
		return !a.Snapshot().InQuorum && u != nil && u.IsZero()
	})
}

func TestQuorumUntil(t *testing.T) {
	now := time.Unix(3_000_000, 0)
	tm := newTiming(tI, tStop, tDead)
	cases := map[string]struct {
		peers    int
		heard    []time.Duration // ago, each reporting us stable
		want     time.Duration   // from now; -1: zero (not in quorum)
		wantEver bool
	}{
		"alone: in quorum for as long as it runs":            {peers: 0, wantEver: true},
		"three members: until the fresher supporter expires": {peers: 2, heard: []time.Duration{50 * time.Millisecond, 200 * time.Millisecond}, want: tStop - 50*time.Millisecond},
		"five members: until the second freshest expires":    {peers: 4, heard: []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond}, want: tStop - 100*time.Millisecond},
		"no support: not in quorum":                          {peers: 2, want: -1},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st := newState(tm, "self", testKey, 1)
			ps := map[string]netip.AddrPort{}
			names := []string{"p1", "p2", "p3", "p4"}[:tc.peers]
			for _, n := range names {
				ps[n] = netip.AddrPort{}
			}
			st.setPeers(now.Add(-time.Hour), ps)
			st.run(now.Add(-time.Hour))
			for i, ago := range tc.heard {
				p := st.peers[names[i]]
				p.last, p.streak, p.inQuorum = now.Add(-ago), now.Add(-time.Hour), true
				p.report = []entry{{id: st.selfID, flags: reportHears | reportStable}}
			}
			got := st.quorumUntil(now)
			switch {
			case tc.wantEver:
				if !got.Equal(forever) {
					t.Fatalf("got %v, want forever", got)
				}
			case tc.want < 0:
				if !got.IsZero() {
					t.Fatalf("got %v, want zero", got)
				}
			case !got.Equal(now.Add(tc.want)):
				t.Fatalf("got %v from now, want %v", got.Sub(now), tc.want)
			}
		})
	}
}

// TestReplays: the rules that stop recorded heartbeats of an older
// incarnation, or copies sent from another address.
func TestReplays(t *testing.T) {
	now := time.Unix(2_000_000, 0)
	tm := newTiming(tI, tStop, tDead)
	bAddr := netip.MustParseAddrPort("192.0.2.2:7947")
	mk := func(name string, inc uint64) *state {
		st := newState(tm, name, testKey, inc)
		st.setPeers(now, map[string]netip.AddrPort{"a": netip.MustParseAddrPort("192.0.2.1:7947"), "b": bAddr})
		st.run(now)
		return st
	}
	old := mk("b", 100)
	oldHB := old.heartbeat(now, nil)
	oldBye := old.leave(nil)
	cur := mk("b", 200)
	curHB := func() []byte { return cur.heartbeat(now, nil) }

	type step struct {
		pkt  []byte
		from netip.AddrPort
		want error
	}
	cases := map[string][]step{
		"a restarted receiver rejects an older incarnation after hearing the current one": {
			{curHB(), bAddr, nil},
			{oldHB, bAddr, errReplay},
			{curHB(), bAddr, nil},
		},
		"an older incarnation heard first does not lock the current one out": {
			{oldHB, bAddr, nil},
			{curHB(), bAddr, nil},
			{oldHB, bAddr, errReplay},
			{curHB(), bAddr, nil},
		},
		"a replayed goodbye of an older incarnation does not make the current one leave": {
			{curHB(), bAddr, nil},
			{oldBye, bAddr, errReplay},
		},
		"a copy sent from another address is rejected": {
			{curHB(), netip.MustParseAddrPort("198.51.100.9:7947"), errSource},
			{curHB(), netip.MustParseAddrPort("192.0.2.2:40000"), nil}, // the port is not checked
		},
		"an IPv4-mapped source is the same address": {
			{curHB(), netip.MustParseAddrPort("[::ffff:192.0.2.2]:7947"), nil},
		},
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			a := mk("a", 300)
			for i, s := range steps {
				if err := a.receiveFrom(now, s.from, s.pkt); !errors.Is(err, s.want) || (s.want == nil) != (err == nil) {
					t.Fatalf("step %d: got %v, want %v", i, err, s.want)
				}
			}
			if a.peers["b"].left {
				t.Fatal("b marked as left")
			}
		})
	}
}

func TestIncarnationsIncrease(t *testing.T) {
	prev := newIncarnation()
	for range 1000 {
		next := newIncarnation()
		if next <= prev {
			t.Fatalf("incarnation %d after %d", next, prev)
		}
		prev = next
	}
}

// TestBindIsRetried: a member whose address is taken keeps trying, is not
// ready meanwhile, and works once the address is free.
func TestBindIsRetried(t *testing.T) {
	addrs := freePorts(t, 2)
	squatter, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addrs[0]))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Self: "a", Key: testKey, Logger: quiet, Listen: addrs[0].String()})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Self: "b", Key: testKey, Logger: quiet, Listen: addrs[1].String()})
	if err != nil {
		t.Fatal(err)
	}
	peers := map[string]netip.AddrPort{"a": addrs[0], "b": addrs[1]}
	a.SetPeers(peers)
	b.SetPeers(peers)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { a.Run(ctx) })
	wg.Go(func() { b.Run(ctx) })
	waitFor(t, "a to fail binding", func() bool { return a.Stats().BindFailures > 0 })
	if err := a.Ready(); err == nil {
		t.Fatal("a ready while its socket is not bound")
	}
	squatter.Close()
	waitFor(t, "a bound and in quorum with b", func() bool {
		return a.Ready() == nil && a.Snapshot().InQuorum && len(a.Snapshot().Alive) == 2
	})
}

// TestKeyRotation: members learn a new key one after the other, seconds
// apart; nothing they send is rejected, they stay in quorum throughout, and
// a member started afterwards with only the new key joins.
func TestKeyRotation(t *testing.T) {
	const switchAfter = 600 * time.Millisecond
	newKey := []byte("a brand new key, rotated!")
	names := []string{"a", "b", "c", "d"}
	addrs := freePorts(t, len(names))
	peers := map[string]netip.AddrPort{}
	for i, n := range names {
		peers[n] = addrs[i]
	}
	cfg := func(i int, key []byte) Config {
		return Config{Self: names[i], Key: key, Logger: quiet, Listen: addrs[i].String(),
			StopAfter: time.Second, DeadAfter: 2 * time.Second, KeySwitchAfter: switchAfter, KeyGrace: 3 * switchAfter}
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	var members []*Member
	for i := range 3 {
		m, err := New(cfg(i, testKey))
		if err != nil {
			t.Fatal(err)
		}
		m.SetPeers(map[string]netip.AddrPort{"a": addrs[0], "b": addrs[1], "c": addrs[2]})
		members = append(members, m)
		wg.Go(func() { m.Run(ctx) })
	}
	allIn := func() bool {
		for _, m := range members[:3] {
			if !m.Snapshot().InQuorum {
				return false
			}
		}
		return true
	}
	waitFor(t, "a, b, c in quorum", allIn)

	var lost atomic.Bool
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watch sync.WaitGroup
	watch.Go(func() {
		for watchCtx.Err() == nil {
			if !allIn() {
				lost.Store(true)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	for _, m := range members {
		if err := m.SetKey(newKey); err != nil {
			t.Fatal(err)
		}
		time.Sleep(switchAfter / 3) // each learns it later than the one before
	}
	// Past every switch and every grace period: only the new key remains.
	time.Sleep(5 * switchAfter)
	stopWatch()
	watch.Wait()
	for i, m := range members {
		if s := m.Stats(); s.RejectedMAC != 0 {
			t.Errorf("%s rejected %d messages during the rotation", names[i], s.RejectedMAC)
		}
	}
	if lost.Load() {
		t.Error("a member left the quorum during the rotation")
	}

	d, err := New(cfg(3, newKey))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		m.SetPeers(peers)
	}
	d.SetPeers(peers)
	wg.Go(func() { d.Run(ctx) })
	waitFor(t, "d, started with only the new key, in quorum", func() bool {
		v := d.Snapshot()
		return v.InQuorum && len(v.Alive) == 4
	})
}
