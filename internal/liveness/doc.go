// Package liveness is the speakers' membership: fast, authenticated and safe
// under network partitions.
//
// Every member sends a heartbeat every Interval to every peer over UDP. A
// heartbeat carries the sender's name, an incarnation (the process start
// time in nanoseconds: later starts have larger ones), a sequence number, whether the sender is in quorum, and for
// each peer the sender expects three flags: hears (heard within W), stable
// (heard for at least S without a gap of StopAfter, since the peer's
// current incarnation began, and since it last said it was deaf), and gone
// (left, silent for at least DeadAfter, or deaf for at least S). An entry
// about the sender itself says whether it hears a majority: q-1 peers heard
// within StopAfter (older senders omit it and count as hearing one). It is
// authenticated with HMAC-SHA256 under a shared key.
// Messages with a bad MAC, from a name that is not a configured peer (or that
// claims to be us), from an address that is not that peer's, with an old
// sequence number, or from an older or departed incarnation are dropped and
// counted in [Stats]. A message is applied at the time the kernel received
// it (SO_TIMESTAMPNS), not when it is read, so that what queued up during a
// pause of this process counts as old.
//
// # Rules
//
// Let N be the number of expected members (the configured peers plus self)
// and q = ⌊N/2⌋+1 a strict majority. At member M:
//
//   - M is in quorum when it has been running for at least StopAfter+2m, and
//     q-1 peers, each heard within StopAfter, reported M as stable in their
//     latest heartbeat (support is two-way: M hears them and they hear M).
//     Out of quorum, the speaker stops announcing at once.
//   - M declares peer P down when M has not heard P for DeadAfter (or P left)
//     and, counting M, q members report P gone: each peer counted was heard
//     within StopAfter and said, in its latest heartbeat, that it was in
//     quorum and that P was gone.
//   - Deaf: a peer whose heartbeats say it does not hear a majority cannot be
//     in quorum (support needs fresh supporters). Its hearing streak restarts
//     with each such heartbeat, so nobody reports it stable, and once the run
//     of such heartbeats has lasted S (= deafAfter) it counts as gone, like a
//     silent one. A node that can send but not receive (host firewall on the
//     port, rp_filter) is thus replaced within StopAfter + I + S + I (about
//     850 ms) instead of never. Its way back needs a fresh stable streak of S
//     after its first "hears a majority", which is the "gone then stable"
//     separation below.
//   - With N = 2 no majority survives a loss. If a TieBreaker is configured,
//     a member whose tie breaker said yes less than StopAfter ago is in
//     quorum and declares its silent peer down without the majority. The
//     tie breaker (a Kubernetes Lease) must say yes to one member at a time.
//   - With N = 1 and a TieBreaker, the member is in quorum only while the
//     tie breaker says yes (it asks all the time). A member that has just
//     joined counts {it, us} before we have added it, so it may use the tie
//     breaker against us (sets one change apart); alone without the tie
//     breaker, we would announce beside it. Without a TieBreaker a lone
//     member is in quorum on its own, and nobody can use one against it.
//   - Leave: the member reports out-of-quorum, then sends authenticated
//     goodbyes. A goodbye counts as DeadAfter of silence; every receiver sends
//     its next heartbeat at once so that the majority forms within one
//     round-trip instead of one Interval.
//
// # Timing
//
// With I = Interval, m = (DeadAfter − StopAfter − 2I)/2 (50 ms by default),
// W = 2I + m (250 ms) and S = StopAfter + m (350 ms). The defaults are
// I = 100 ms, StopAfter = 300 ms, DeadAfter = 600 ms.
//
// Claim: if every datagram that arrives does so within δ ≤ m of being sent
// (delay plus scheduling; clocks need no sync, only similar rates), two
// members never both believe they may announce the same IP. Suppose M1 is in
// quorum at time t and M2 has M1 down at t (otherwise M2 would not announce
// an IP that M1 ranks first for). M1's supporters plus M1 are q members, and
// the members counted in M2's decision are q more, M1 not among them; two
// majorities of N meet, so some member X is in both. Both reports X made
// were received within StopAfter before t, so their send times are less
// than StopAfter+δ apart.
//
//   - X = M2: M2 reported M1 stable, so M2 heard M1 after t−StopAfter−δ−W,
//     yet M2 has not heard M1 since t−DeadAfter. That needs
//     DeadAfter < StopAfter+W+δ, that is δ > m.
//   - X sent "stable" then "gone": it heard M1 within W of the first and not
//     for DeadAfter before the second, so they are more than DeadAfter−W =
//     StopAfter+m apart. Impossible if δ ≤ m.
//   - X sent "gone" then "stable": the gone broke X's streak, so the stable
//     one came more than S = StopAfter+m later. Impossible if δ ≤ m.
//   - Deaf gone: X reports M1 gone because M1's heartbeats have said "no
//     majority" for S. Every such heartbeat restarts X's streak and no stable
//     is reported while the run lasts, so "stable then deaf gone" are more
//     than S apart (the run starts after the stable report), and "deaf gone
//     then stable" too (the new streak starts after the run ended). If X is
//     M2, M2's stable report was sent less than StopAfter+δ before t, so the
//     run that began after it is shorter than S at t when δ < m.
//
// The argument never asks whether M1 really is deaf: it only needs "stable"
// and "gone" about one member, from one reporter, to be S apart. A member
// that lies about not hearing only takes itself out.
//
// A member that has just started ignores reports sent before it existed: it
// waits StopAfter+2m before it can be in quorum.
//
// Failover: a member cut off from the others stops within StopAfter of the
// last supporting heartbeat it received. The others declare a crashed or
// isolated member down DeadAfter after its last heartbeat plus up to one
// Interval for the peers' gone reports: 600-700 ms with the defaults. A
// graceful Leave takes one round-trip.
//
// Asymmetric loss: if only B stops hearing A, the other members still hear
// A, never report it gone, and nobody declares it down; A keeps its IPs.
// If A stops hearing a majority, it loses support and stops, says so in its
// heartbeats, and the others agree it is down after S.
//
// # Membership changes
//
// The expected set is what the caller passes to SetPeers (the speaker: the
// Nodes whose speaker published its address, see internal/speaker). The
// argument above needs M1's supporters and M2's witnesses to be majorities of
// sets whose majorities intersect. Two sets C and C' = C ± {x} have that
// property: a majority of C has more than |C|/2 members of C, a majority of
// C' more than |C'|/2, and together they exceed |C ∪ C'| only when the sets
// differ by one member (for |C| = 2k, C' = C + x: k+1 + k+1 > 2k+1; for
// |C| = 2k+1: k+1 + k+2 > 2k+2; removal is the same with C and C' swapped).
// Two changes apart they may not: {a,b,c} and {a,b,c,d,e} have the
// disjoint majorities {a,b} and {c,d,e}. So the speaker:
//
//   - applies the changes it sees one at a time, in one order (removals
//     first, then additions, each by name), at least MembershipStep (1 s)
//     apart, so that every speaker has applied a change before any applies
//     the next, as long as the Node watch reaches every speaker within that
//     step (it takes milliseconds; a speaker whose watch lags more is the
//     limit of the argument);
//   - starts a new member with the whole current set (a new or restarted
//     member is one change away from the others: itself);
//   - removes a member only once this member's view has it down (or it said
//     goodbye): removing a member that may still announce would make it
//     vanish from Alive at once, so its IPs would be taken before it stopped.
//
// When several change at once (a rollout, several nodes powered off), each
// speaker works through the list one per step. Members it has seen published
// but not added yet count as alive for election (never as down): another
// speaker may already count them. A member whose publication has not reached
// a speaker at all is the limit: it must not get into quorum elsewhere
// (StopAfter+2m after start, plus S of support) before every speaker's Node
// watch has shown it.
//
// # Availability down to the last node
//
// A majority that has declared a member down evicts it from the set (the
// speaker empties its Node annotation), so the survivors count a majority of
// a smaller set: 5 → 4 → 3 → 2 as nodes fail one after the other, each at
// least DeadAfter + EvictAfter + MembershipStep (about 3 s) after the last.
// The evicted member, if it is alive behind a partition, still counts the
// old set and gets no support from the members that dropped it.
//
// At two, the TieBreaker (a Lease) lets one member stay in quorum and
// declare the other down. The set does not shrink to one: the member put
// down may be alive behind a partition, and a survivor alone in its set
// would stop renewing the Lease, which the other could then take. So the
// last node serves as one of two, through the Lease, while it reaches the
// API server.
//
// Simultaneous loss of a majority (2 of 3 killed at once) leaves the survivor
// out of quorum: it cannot tell two crashed peers from two peers that still
// hold a majority on the far side of a partition, and it must not announce
// in the second case. The API server cannot settle it without making every
// majority ask it too whenever a member goes silent, which would stop a
// healthy majority during an API server outage. So with both the majority
// and the TieBreaker lost, nobody in the minority announces; the IPs of the
// failed nodes stay dark until the nodes or a majority come back.
//
// # Limits
//
//   - The expected sets must stay within one change of each other for the
//     majority argument (above).
//   - The argument is about liveness only. Members must also agree on the
//     candidates (endpoints, labels) for election to give one owner.
//   - A process pause longer than m between reading InQuorum and acting on it
//     would break δ ≤ m, like any lease. Config.QuorumDeadline closes most
//     of it: the announcer is given the instant at which quorum lapses
//     without new support and checks it on the monotonic clock just before
//     each answer, so only a pause between that check and the send remains.
//   - Full mesh: N·(N−1)/I datagrams per second and 9 bytes per peer per
//     heartbeat (it fits in 1,500 bytes up to about 150 members).
//   - Anyone holding the key can speak for any member. Replays are stopped by
//     sequence numbers, by ordered incarnations (a receiver rejects any
//     incarnation older than the newest it has seen, so a replay of an
//     earlier start cannot lock out the current one, even at a receiver that
//     just restarted) and by checking the source address.
//   - Keys rotate without a split: a new key (SetKey) is accepted at once but
//     signs only KeySwitchAfter later; the old one is accepted for KeyGrace
//     after that.
package liveness
