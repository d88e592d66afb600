package liveness

import (
	"errors"
	"hash"
	"net/netip"
	"slices"
	"strings"
	"time"
)

var errUnknown = errors.New("unknown sender")
var errReplay = errors.New("replayed or stale message")
var errSource = errors.New("source address is not the peer's")

// timing holds the configured durations and the ones derived from them (see
// the package documentation for why they are what they are).
type timing struct {
	interval, stopAfter, deadAfter time.Duration
	margin                         time.Duration // m = (DeadAfter - StopAfter - 2·Interval) / 2
	hearWindow                     time.Duration // W = 2·Interval + m
	stableAfter                    time.Duration // S = StopAfter + m
	startHold                      time.Duration // StopAfter + 2m: no quorum this soon after start
	deafAfter                      time.Duration // S: a peer that says it hears no majority this long is gone
}

func newTiming(interval, stopAfter, deadAfter time.Duration) timing {
	m := (deadAfter - stopAfter - 2*interval) / 2
	return timing{
		interval: interval, stopAfter: stopAfter, deadAfter: deadAfter,
		margin:      m,
		hearWindow:  2*interval + m,
		stableAfter: stopAfter + m,
		startHold:   stopAfter + 2*m,
		deafAfter:   stopAfter + m,
	}
}

type peer struct {
	name  string
	id    uint64
	addr  netip.AddrPort
	added time.Time // when SetPeers first named it

	last   time.Time // last accepted heartbeat; zero if none
	streak time.Time // start of the current hearing streak; zero if none
	left   bool      // its current incarnation said goodbye

	haveInc bool
	inc     uint64 // incarnations are start times: a smaller one is older
	seq     uint64

	// deafSince: when the run of heartbeats in which p says it does not
	// hear a majority began; zero while its latest heartbeat says it does.
	deafSince time.Time

	inQuorum bool    // from its latest heartbeat
	report   []entry // from its latest heartbeat, ascending by id
}

// state is the pure membership state machine of one member. Every method
// takes the current time; nothing reads a clock or touches a socket.
type state struct {
	t      timing
	self   string
	selfID uint64
	inc    uint64
	seq    uint64

	start  time.Time // when Run began; zero while halted
	halted bool
	left   bool
	tieAt  time.Time // start of the latest tie-breaker call that said yes; zero if none
	// tieAlone: a tie breaker is configured, so a member with no peers is in
	// quorum only while it holds it. A member that others count in a set of
	// two (they added it before it added them) may use the tie breaker
	// against it; alone without it, both would announce.
	tieAlone bool
	sendNow  bool // a leave arrived: tell the others at once

	peers  map[string]*peer
	sorted []*peer // by id, for encoding

	recvMAC, sendMAC hash.Hash
	extraMACs        []hash.Hash // other keys accepted during a rotation (keys.go)
	scratch          []entry
	stats            Stats
}

func newState(t timing, self string, key []byte, inc uint64) *state {
	return &state{
		t: t, self: self, selfID: peerID(self), inc: inc,
		halted:  true,
		peers:   map[string]*peer{},
		recvMAC: newMAC(key),
		sendMAC: newMAC(key),
	}
}

// run marks the member as running from now on.
func (s *state) run(now time.Time) { s.start, s.halted = now, false }

// halt marks the member as stopped: it is out of quorum for good.
func (s *state) halt() { s.halted = true }

// setPeers replaces the expected peers. Self and names that cannot go on the
// wire are ignored. Known peers keep their history.
func (s *state) setPeers(now time.Time, peers map[string]netip.AddrPort) {
	next := make(map[string]*peer, len(peers))
	for name, addr := range peers {
		if name == s.self || name == "" || len(name) > maxNameLen {
			continue
		}
		p := s.peers[name]
		if p == nil {
			p = &peer{name: name, id: peerID(name), added: now}
		}
		p.addr = addr
		next[name] = p
	}
	s.peers = next
	s.sorted = s.sorted[:0]
	for _, p := range next {
		s.sorted = append(s.sorted, p)
	}
	slices.SortFunc(s.sorted, func(a, b *peer) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
}

// receive authenticates and applies one datagram whose source is unknown
// (the simulation); see receiveFrom.
func (s *state) receive(now time.Time, pkt []byte) error {
	return s.receiveFrom(now, netip.AddrPort{}, pkt)
}

// receiveFrom authenticates and applies one datagram that arrived at now
// (the kernel's arrival time, not when it was read) from the address from.
// A valid from must be the peer's configured address: a copy of a peer's
// datagram sent from elsewhere is a replay.
func (s *state) receiveFrom(now time.Time, from netip.AddrPort, pkt []byte) error {
	s.stats.Received++
	m, err := s.decodeAnyKey(pkt)
	switch {
	case errors.Is(err, errMAC):
		s.stats.RejectedMAC++
		return err
	case err != nil:
		s.stats.RejectedMalformed++
		return err
	}
	s.scratch = m.entries[:0]
	p := s.peers[m.name]
	if p == nil || m.name == s.self {
		s.stats.RejectedUnknown++
		return errUnknown
	}
	if from.IsValid() && p.addr.IsValid() && from.Addr().Unmap() != p.addr.Addr().Unmap() {
		s.stats.RejectedSource++
		return errSource
	}
	switch {
	case p.haveInc && m.incarnation == p.inc:
		if m.seq <= p.seq || (p.left && m.kind != kindLeave) {
			s.stats.RejectedReplay++
			return errReplay
		}
		if p.left { // another copy of the goodbye
			p.seq = m.seq
			s.stats.Accepted++
			return nil
		}
	case m.incarnation == 0 || (p.haveInc && m.incarnation < p.inc):
		// An older incarnation (or one no member uses): a replay or a
		// datagram delayed across a restart. Ordering, rather than a list
		// of retired ones, means a replay can never displace the newest.
		s.stats.RejectedReplay++
		return errReplay
	default: // a newer incarnation: the peer restarted
		p.haveInc, p.inc, p.left = true, m.incarnation, false
		p.streak, p.deafSince = time.Time{}, time.Time{}
	}
	p.seq = m.seq
	s.stats.Accepted++
	if m.kind == kindLeave {
		s.stats.LeavesReceived++
		p.left, p.streak, p.inQuorum, p.report = true, time.Time{}, false, p.report[:0]
		s.sendNow = true
		return nil
	}
	if p.streak.IsZero() || p.last.IsZero() || now.Sub(p.last) >= s.t.stopAfter {
		p.streak = now
	}
	// A sender that says it does not hear a majority is treated like a
	// silent one: its hearing streak restarts with every such heartbeat (no
	// "stable" for S after the last one) and, once the run has lasted
	// deafAfter, it is gone. Senders without the self entry (older
	// versions) are taken to hear a majority.
	if f, ok := lookup(m.entries, peerID(m.name)); ok && f&reportHearsMajority == 0 {
		p.streak = now
		if p.deafSince.IsZero() {
			p.deafSince = now
		}
	} else {
		p.deafSince = time.Time{}
	}
	p.last, p.inQuorum = now, m.inQuorum
	// Keep the decoded entries; hand the peer's old slice back as scratch.
	p.report, s.scratch = m.entries, p.report[:0]
	return nil
}

// flagsFor is what this member reports about p at now.
func (s *state) flagsFor(now time.Time, p *peer) uint8 {
	var f uint8
	if !p.left && !p.last.IsZero() && now.Sub(p.last) < s.t.hearWindow {
		f |= reportHears
		if p.deafSince.IsZero() && !p.streak.IsZero() && now.Sub(p.streak) >= s.t.stableAfter {
			f |= reportStable
		}
	}
	if s.ownGone(now, p) {
		f |= reportGone
	}
	return f
}

// ownGone: p left, or this member has not heard it for DeadAfter (counted
// from when p was first expected if it was never heard), or p has said for
// deafAfter that it does not hear a majority (deaf: it cannot be in quorum,
// see the package documentation).
func (s *state) ownGone(now time.Time, p *peer) bool {
	ref := p.added
	if p.last.After(ref) {
		ref = p.last
	}
	return p.left || now.Sub(ref) >= s.t.deadAfter ||
		(!p.deafSince.IsZero() && now.Sub(p.deafSince) >= s.t.deafAfter)
}

// hearsMajority: this member heard, within StopAfter, enough peers to be in
// quorum if they all supported it. Without it, it cannot be in quorum.
func (s *state) hearsMajority(now time.Time) bool {
	n := 1
	for _, p := range s.peers {
		if s.fresh(now, p) {
			n++
		}
	}
	return n >= s.quorumSize()
}

// heartbeat returns the next heartbeat to send to every peer, or nil once the
// member has left.
func (s *state) heartbeat(now time.Time, buf []byte) []byte {
	if s.left {
		return nil
	}
	s.seq++
	m := message{kind: kindHeartbeat, inQuorum: s.inQuorum(now), incarnation: s.inc, seq: s.seq, name: s.self}
	m.entries = make([]entry, 0, len(s.sorted)+1)
	// An entry about the sender itself carries reportHearsMajority; older
	// receivers never look their sender's own id up, so they ignore it.
	var selfFlags uint8
	if s.hearsMajority(now) {
		selfFlags = reportHearsMajority
	}
	selfDone := false
	for _, p := range s.sorted {
		if !selfDone && p.id >= s.selfID {
			selfDone = true
			if p.id != s.selfID { // equal: a collision with us; leave both out
				m.entries = append(m.entries, entry{id: s.selfID, flags: selfFlags})
			}
		}
		if len(m.entries) > 0 && m.entries[len(m.entries)-1].id == p.id || p.id == s.selfID {
			continue // a 64-bit id collision: report neither twice nor ambiguously
		}
		m.entries = append(m.entries, entry{id: p.id, flags: s.flagsFor(now, p)})
	}
	if !selfDone {
		m.entries = append(m.entries, entry{id: s.selfID, flags: selfFlags})
	}
	s.stats.Sent++
	return encode(buf, s.sendMAC, &m)
}

// leave marks the member as gone for good and returns a leave message; call
// it once per copy to be sent (each copy has its own sequence number).
func (s *state) leave(buf []byte) []byte {
	s.left = true
	s.seq++
	m := message{kind: kindLeave, incarnation: s.inc, seq: s.seq, name: s.self}
	return encode(buf, s.sendMAC, &m)
}

func (s *state) fresh(now time.Time, p *peer) bool {
	return !p.left && !p.last.IsZero() && now.Sub(p.last) < s.t.stopAfter
}

func (s *state) quorumSize() int { return (len(s.peers)+1)/2 + 1 }

// rawQuorum: enough peers heard within StopAfter that, in their latest
// heartbeat, report this member as stable.
func (s *state) rawQuorum(now time.Time) bool {
	n := 1
	for _, p := range s.peers {
		if !s.fresh(now, p) {
			continue
		}
		if f, ok := lookup(p.report, s.selfID); ok && f&reportStable != 0 {
			n++
		}
	}
	return n >= s.quorumSize()
}

func (s *state) tieHeld(now time.Time) bool {
	return len(s.peers) <= 1 && !s.tieAt.IsZero() && now.Sub(s.tieAt) < s.t.stopAfter
}

func (s *state) inQuorum(now time.Time) bool {
	if s.halted || s.left || now.Sub(s.start) < s.t.startHold {
		return false
	}
	if len(s.peers) == 0 && s.tieAlone {
		return s.tieHeld(now)
	}
	return s.rawQuorum(now) || s.tieHeld(now)
}

// down: this member gave up on p (see the package documentation).
func (s *state) down(now time.Time, p *peer, tie bool) bool {
	if !s.ownGone(now, p) {
		return false
	}
	if tie {
		return true
	}
	n := 1
	for _, x := range s.peers {
		if x == p || !x.inQuorum || !s.fresh(now, x) {
			continue
		}
		if f, ok := lookup(x.report, p.id); ok && f&reportGone != 0 {
			n++
		}
	}
	return n >= s.quorumSize()
}

func (s *state) view(now time.Time) View {
	v := View{InQuorum: s.inQuorum(now), Expected: len(s.peers) + 1}
	tie := s.tieHeld(now)
	for _, p := range s.peers {
		if !s.down(now, p, tie) {
			v.Alive = append(v.Alive, p.name)
		}
	}
	if v.InQuorum {
		v.Alive = append(v.Alive, s.self)
	}
	slices.Sort(v.Alive)
	return v
}

// nextDeadline is the earliest instant after now at which the view can
// change without a message arriving; zero if none.
func (s *state) nextDeadline(now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if !s.halted {
		consider(s.start.Add(s.t.startHold))
	}
	if !s.tieAt.IsZero() {
		consider(s.tieAt.Add(s.t.stopAfter))
	}
	for _, p := range s.peers {
		consider(p.added.Add(s.t.deadAfter))
		if !p.deafSince.IsZero() {
			consider(p.deafSince.Add(s.t.deafAfter))
		}
		if !p.last.IsZero() {
			consider(p.last.Add(s.t.stopAfter))
			consider(p.last.Add(s.t.deadAfter))
		}
	}
	return next
}

// wantTie: one or two expected members and the peer (if any) is not clearly there. The
// caller asks the tie breaker at most once per Interval while this holds.
func (s *state) wantTie(now time.Time) bool {
	if len(s.peers) > 1 || s.halted || s.left {
		return false
	}
	if len(s.peers) == 0 {
		return s.tieAlone // alone: hold it all the time
	}
	for _, p := range s.peers {
		if p.last.IsZero() || now.Sub(p.last) >= s.t.interval*3/2 {
			return true
		}
	}
	return !s.rawQuorum(now)
}

// tieResult records a tie-breaker answer for a call that started at start.
// "No" revokes any earlier "yes".
func (s *state) tieResult(start time.Time, won bool) {
	s.stats.TieBreakerCalls++
	if !won {
		s.tieAt = time.Time{}
		return
	}
	s.stats.TieBreakerWins++
	if start.After(s.tieAt) {
		s.tieAt = start
	}
}
