package liveness

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Defaults for the zero values in Config.
const (
	DefaultInterval  = 100 * time.Millisecond
	DefaultStopAfter = 300 * time.Millisecond
	DefaultDeadAfter = 600 * time.Millisecond
)

// leaveCopies and leaveGap: Leave sends this many goodbyes, this far apart,
// so one lost datagram does not cost a DeadAfter-long failover.
const (
	leaveCopies = 3
	leaveGap    = 2 * time.Millisecond
)

// Clock is the time source; tests inject a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config configures a Member.
type Config struct {
	// Self is this node's name, as peers know it. Required, 1-255 bytes.
	Self string
	// Key authenticates every message (HMAC-SHA256). At least 16 bytes,
	// shared by all members (from a Kubernetes Secret).
	Key []byte
	// Listen is the UDP ip:port to bind on the node network.
	Listen string
	// Interval between heartbeats. Default 100ms.
	Interval time.Duration
	// StopAfter: a member that has not had a majority of support within this
	// long reports InQuorum=false. Default 300ms; must exceed Interval.
	StopAfter time.Duration
	// DeadAfter: how long a peer must be silent before it can be declared
	// down. Default 600ms; must exceed StopAfter + 2×Interval.
	DeadAfter time.Duration
	// TieBreaker, if set, is asked whether this member may stay in quorum
	// when there are exactly two expected members and it cannot see the
	// other. It must return true to at most one member at any time, and only
	// if that stays true for StopAfter after the call began (a Lease held
	// with that much time left). It is called at most once per Interval,
	// with a context that expires after Interval.
	TieBreaker func(ctx context.Context) bool
	// KeySwitchAfter: after SetKey gives a new key, it is accepted at once
	// but signs only this much later, once every member has had time to
	// read it (see keys.go). Default 10s.
	KeySwitchAfter time.Duration
	// KeyGrace: how long the previous key is still accepted after the
	// switch. Default 2m; must be at least KeySwitchAfter.
	KeyGrace time.Duration
	// QuorumDeadline, if set, is called whenever the instant until which
	// this member is in quorum (if no message arrives) changes; the zero
	// time means it is not in quorum. The speaker passes it to the
	// announcer, which stops answering on its own at that instant. It is
	// called with the member's lock held and must not block.
	QuorumDeadline func(until time.Time)
	// Clock defaults to the system clock.
	Clock Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// View is a member's verdict at one instant.
type View struct {
	// InQuorum: this member may announce. False means stop announcing now.
	InQuorum bool
	// Alive lists, sorted, the members that are not down, including this
	// member only if it is in quorum. Owners are elected among these.
	Alive []string
	// Expected is the number of members the quorum is counted against
	// (the configured peers plus this member).
	Expected int
}

func (v View) equal(o View) bool {
	return v.InQuorum == o.InQuorum && v.Expected == o.Expected && slices.Equal(v.Alive, o.Alive)
}

// Stats are counters since New, for the speaker to export as metrics.
type Stats struct {
	Sent              uint64 // heartbeats built (each goes to every peer)
	SendErrors        uint64 // datagrams the socket refused
	Received          uint64 // datagrams read
	Accepted          uint64
	RejectedMalformed uint64
	RejectedMAC       uint64
	RejectedReplay    uint64 // old sequence, older or departed incarnation
	RejectedUnknown   uint64 // sender not among the peers, or claiming to be us
	RejectedSource    uint64 // sent from an address that is not the peer's
	BindFailures      uint64 // failed attempts to bind Listen (retried)
	LeavesReceived    uint64
	TieBreakerCalls   uint64
	TieBreakerWins    uint64
}

// Member is one speaker's membership: it heartbeats its peers over UDP and
// decides who is alive and whether it is itself in quorum.
type Member struct {
	cfg   Config
	clock Clock
	log   *slog.Logger

	mu        sync.Mutex
	st        *state
	conn      *net.UDPConn
	running   bool
	published View
	tieBusy   bool
	tieLast   time.Time
	buf       []byte
	keys      keyring
	until     time.Time // last value given to QuorumDeadline
	bindErr   error     // last bind failure; nil once bound

	changes chan struct{}
	kick    chan struct{}
}

// New validates cfg and returns a Member that is out of quorum until Run.
func New(cfg Config) (*Member, error) {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.StopAfter == 0 {
		cfg.StopAfter = DefaultStopAfter
	}
	if cfg.DeadAfter == 0 {
		cfg.DeadAfter = DefaultDeadAfter
	}
	switch {
	case cfg.Self == "" || len(cfg.Self) > maxNameLen:
		return nil, fmt.Errorf("liveness: Self must be 1-%d bytes, got %d", maxNameLen, len(cfg.Self))
	case len(cfg.Key) < 16:
		return nil, errors.New("liveness: Key must be at least 16 bytes")
	case cfg.Interval < 0:
		return nil, errors.New("liveness: Interval must be positive")
	case cfg.StopAfter <= cfg.Interval:
		return nil, fmt.Errorf("liveness: StopAfter (%v) must exceed Interval (%v)", cfg.StopAfter, cfg.Interval)
	case cfg.DeadAfter <= cfg.StopAfter+2*cfg.Interval:
		return nil, fmt.Errorf("liveness: DeadAfter (%v) must exceed StopAfter + 2×Interval (%v)",
			cfg.DeadAfter, cfg.StopAfter+2*cfg.Interval)
	}
	if _, err := netip.ParseAddrPort(cfg.Listen); err != nil {
		return nil, fmt.Errorf("liveness: Listen: %w", err)
	}
	if cfg.KeySwitchAfter == 0 {
		cfg.KeySwitchAfter = DefaultKeySwitchAfter
	}
	if cfg.KeyGrace == 0 {
		cfg.KeyGrace = DefaultKeyGrace
	}
	if cfg.KeySwitchAfter < 0 || cfg.KeyGrace < cfg.KeySwitchAfter {
		return nil, fmt.Errorf("liveness: KeyGrace (%v) must be at least KeySwitchAfter (%v), both positive", cfg.KeyGrace, cfg.KeySwitchAfter)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m := &Member{
		cfg:     cfg,
		clock:   cfg.Clock,
		log:     cfg.Logger.With("component", "liveness", "node", cfg.Self),
		st:      newState(newTiming(cfg.Interval, cfg.StopAfter, cfg.DeadAfter), cfg.Self, cfg.Key, newIncarnation()),
		changes: make(chan struct{}, 1),
		kick:    make(chan struct{}, 1),
		keys:    keyring{sign: slices.Clone(cfg.Key)},
		bindErr: errors.New("liveness socket not bound yet"),
	}
	m.st.tieAlone = cfg.TieBreaker != nil
	m.published = m.st.view(m.clock.Now())
	return m, nil
}

var (
	incMu   sync.Mutex
	lastInc uint64
)

// newIncarnation returns the start time in nanoseconds, strictly increasing
// within the process. Peers reject incarnations older than the newest they
// have seen, so a replayed heartbeat of a previous incarnation can neither
// displace the current one nor lock it out. A restarted speaker is a new
// process seconds later: its wall clock would have to step back by more than
// that for its new incarnation to be taken for an old one (it would then be
// ignored until the peers forget the old one, never trusted wrongly).
func newIncarnation() uint64 {
	incMu.Lock()
	defer incMu.Unlock()
	inc := max(uint64(time.Now().UnixNano()), lastInc+1)
	lastInc = inc
	return inc
}

// SetKey makes key the newest key: accepted at once, used to sign after
// KeySwitchAfter (see keys.go). Setting the current key again is a no-op.
func (m *Member) SetKey(key []byte) error {
	if len(key) < 16 {
		return errors.New("liveness: Key must be at least 16 bytes")
	}
	m.mu.Lock()
	m.keys.set(m.clock.Now(), key)
	m.st.setKeys(m.keys.sign, m.keys.accepted())
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
	return nil
}

// Ready reports why the member cannot work yet (its socket is not bound);
// nil once Run has bound it.
func (m *Member) Ready() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conn == nil {
		return fmt.Errorf("liveness: %w", m.bindErr)
	}
	return nil
}

// SetPeers replaces the expected members other than this one (an entry for
// Self is ignored). Peers that stay keep their history.
func (m *Member) SetPeers(peers map[string]netip.AddrPort) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.Now()
	m.st.setPeers(now, peers)
	m.publishLocked(now)
}

// Snapshot returns the view at this instant.
func (m *Member) Snapshot() View {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.publishLocked(m.clock.Now()) // also brings the announcer's deadline up to date
	v := m.published
	v.Alive = slices.Clone(v.Alive)
	return v
}

// Changes receives a value (coalesced) whenever the view may have changed;
// read Snapshot after each.
func (m *Member) Changes() <-chan struct{} { return m.changes }

// Stats returns the counters.
func (m *Member) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.stats
}

// Leave reports out-of-quorum at once, then tells the peers this member is
// going (a few authenticated copies) so they drop it without waiting for
// DeadAfter. The Member never rejoins; a restarted process is a new
// incarnation. The caller stops announcing before calling Leave.
func (m *Member) Leave() {
	m.mu.Lock()
	var pkts [][]byte
	for range leaveCopies {
		pkts = append(pkts, m.st.leave(nil))
	}
	m.publishLocked(m.clock.Now())
	conn, addrs := m.conn, m.addrsLocked()
	m.mu.Unlock()
	if conn == nil {
		return
	}
	for i, pkt := range pkts {
		if i > 0 {
			time.Sleep(leaveGap)
		}
		m.send(conn, pkt, addrs)
	}
}

// Run binds Listen, retrying with backoff until it succeeds (Ready reports
// the failure meanwhile), and runs the member until ctx is done. It is out of
// quorum afterwards. Run may be called once.
func (m *Member) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("liveness: Run called twice")
	}
	m.running = true
	m.mu.Unlock()
	conn := m.bind(ctx)
	if conn == nil {
		return nil // ctx ended before the socket could be bound
	}
	m.mu.Lock()
	m.conn, m.bindErr = conn, nil
	m.st.run(m.clock.Now())
	m.mu.Unlock()

	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		m.readLoop(conn)
	}()
	defer func() {
		conn.Close()
		<-readerDone
		m.mu.Lock()
		m.conn = nil
		m.st.halt()
		m.publishLocked(m.clock.Now())
		m.mu.Unlock()
	}()

	nextSend := m.clock.Now()
	for {
		now := m.clock.Now()
		m.mu.Lock()
		urgent := m.st.sendNow
		m.st.sendNow = false
		var pkt []byte
		if urgent || !now.Before(nextSend) {
			m.buf = m.st.heartbeat(now, m.buf[:0])
			pkt = m.buf
			nextSend = now.Add(m.cfg.Interval)
		}
		addrs := m.addrsLocked()
		if m.keys.advance(now, m.cfg.KeySwitchAfter, m.cfg.KeyGrace) {
			m.st.setKeys(m.keys.sign, m.keys.accepted())
			m.log.Info("liveness key rotated", "acceptedKeys", 1+len(m.keys.accepted()))
		}
		m.publishLocked(now)
		wait := nextSend.Sub(now)
		if d := m.st.nextDeadline(now); !d.IsZero() && d.Sub(now) < wait {
			wait = d.Sub(now)
		}
		if d := m.keys.nextChange(m.cfg.KeySwitchAfter); !d.IsZero() && d.Sub(now) < wait {
			wait = max(d.Sub(now), 0)
		}
		m.maybeTieLocked(ctx, now)
		m.mu.Unlock()
		if pkt != nil {
			m.send(conn, pkt, addrs)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.clock.After(wait):
		case <-m.kick:
		}
	}
}

func (m *Member) readLoop(conn *net.UDPConn) {
	buf := make([]byte, maxPacket+1)
	oob := make([]byte, oobSize)
	for {
		n, oobn, _, from, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Debug("read failed", "err", err)
			continue
		}
		m.mu.Lock()
		// Apply the datagram at the instant it arrived, not now: after a
		// pause, what queued up meanwhile must look as old as it is.
		now := arrival(m.clock.Now(), time.Now(), oob[:oobn])
		err = m.st.receiveFrom(now, from, buf[:n])
		now = m.clock.Now()
		urgent := m.st.sendNow
		m.publishLocked(now)
		m.mu.Unlock()
		if err != nil {
			m.log.Debug("message rejected", "from", from, "err", err)
		}
		if urgent {
			select {
			case m.kick <- struct{}{}:
			default:
			}
		}
	}
}

func (m *Member) addrsLocked() []netip.AddrPort {
	addrs := make([]netip.AddrPort, 0, len(m.st.sorted))
	for _, p := range m.st.sorted {
		addrs = append(addrs, p.addr)
	}
	return addrs
}

func (m *Member) send(conn *net.UDPConn, pkt []byte, addrs []netip.AddrPort) {
	var failed uint64
	for _, a := range addrs {
		if _, err := conn.WriteToUDPAddrPort(pkt, a); err != nil {
			failed++
		}
	}
	if failed > 0 {
		m.mu.Lock()
		m.st.stats.SendErrors += failed
		m.mu.Unlock()
	}
}

// maybeTieLocked asks the tie breaker in the background when the state wants
// it, at most once per Interval and one call at a time.
func (m *Member) maybeTieLocked(ctx context.Context, now time.Time) {
	tb := m.cfg.TieBreaker
	if tb == nil || m.tieBusy || now.Sub(m.tieLast) < m.cfg.Interval || !m.st.wantTie(now) {
		return
	}
	m.tieBusy, m.tieLast = true, now
	go func() {
		cctx, cancel := context.WithTimeout(ctx, m.cfg.Interval)
		won := tb(cctx) && cctx.Err() == nil // a late yes is a no
		cancel()
		m.mu.Lock()
		m.tieBusy = false
		m.st.tieResult(now, won)
		m.publishLocked(m.clock.Now())
		m.mu.Unlock()
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}()
}

// publishLocked notifies Changes when the view differs from the last one
// published, after telling QuorumDeadline (so that an announcer is limited
// before the speaker hears of the change).
func (m *Member) publishLocked(now time.Time) {
	if f := m.cfg.QuorumDeadline; f != nil {
		if until := m.st.quorumUntil(now); !until.Equal(m.until) || until.IsZero() != m.until.IsZero() {
			m.until = until
			f(until)
		}
	}
	v := m.st.view(now)
	if v.equal(m.published) {
		return
	}
	if v.InQuorum != m.published.InQuorum {
		m.log.Info("quorum changed", "inQuorum", v.InQuorum, "alive", len(v.Alive), "expected", v.Expected)
	} else {
		m.log.Debug("membership changed", "alive", v.Alive)
	}
	m.published = v
	select {
	case m.changes <- struct{}{}:
	default:
	}
}
