package speaker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LivenessAnnotation, on a Node, says where that node's speaker listens for
// liveness heartbeats ("ip:port"). Its speaker sets it once its membership
// runs and sets it to "" when it stops (graceful stop, liveness failed) or
// when the others evict it after declaring it down. The liveness members are
// the Nodes whose value parses: the speakers that run, not every Node.
const LivenessAnnotation = "ironlb.io/liveness"

// Member reports whether n's speaker is a liveness member, and where it
// listens:
//
//   - LivenessAnnotation = "ip:port": a member at that address;
//   - LivenessAnnotation present but not an address ("" after a stop or an
//     eviction): not a member;
//   - no LivenessAnnotation but InterfacesAnnotation present: a speaker of a
//     version before LivenessAnnotation (during a rolling upgrade): a member
//     at InternalIP:port, as those speakers count it;
//   - neither (no speaker ever ran there: new, Windows, virtual nodes): not a
//     member;
//   - Ready condition Unknown (the kubelet stopped reporting: powered off):
//     not a member.
//
// Leaving the member set only takes effect once liveness has declared the
// member down (see stepPeers), so a Node wrongly reported Unknown whose
// speaker still heartbeats stays a member.
func Member(n *corev1.Node, port int) (netip.AddrPort, bool) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionUnknown {
			return netip.AddrPort{}, false
		}
	}
	if v, ok := n.Annotations[LivenessAnnotation]; ok {
		ap, err := netip.ParseAddrPort(v)
		if err != nil || !ap.Addr().IsValid() || ap.Addr().IsUnspecified() || ap.Port() == 0 {
			return netip.AddrPort{}, false
		}
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), true
	}
	if _, ok := n.Annotations[InterfacesAnnotation]; ok {
		if ip, ok := InternalIP(n); ok {
			return netip.AddrPortFrom(ip, uint16(port)), true
		}
	}
	return netip.AddrPort{}, false
}

// stepPeers moves the liveness peer set cur one membership change towards
// want. The majority argument of internal/liveness holds between two member
// sets that differ by one member (their majorities intersect), so every
// speaker applies the changes it sees one at a time, in the same order
// (removals first, then additions, each by name), and the caller waits
// between steps so that all speakers have applied one before any applies the
// next. A peer leaves only once alive (liveness's View.Alive) no longer lists
// it: removing a member that may still announce would let the others take
// its IPs at once. Address changes of members that stay are applied with the
// step (they are not membership changes).
//
// cur == nil is the first set: want as is (a new member starts with the
// members that exist, like a restarted one).
func stepPeers(cur, want map[string]netip.AddrPort, alive []string) (next map[string]netip.AddrPort, changed, pending bool) {
	if cur == nil {
		return maps(want), true, false
	}
	next = map[string]netip.AddrPort{}
	for n, a := range cur {
		if w, ok := want[n]; ok {
			a = w
		}
		next[n] = a
	}
	changed = !mapsEqualAddr(next, cur)
	var gone, added []string
	for n := range cur {
		if _, ok := want[n]; !ok {
			gone = append(gone, n)
		}
	}
	for n := range want {
		if _, ok := cur[n]; !ok {
			added = append(added, n)
		}
	}
	sort.Strings(gone)
	sort.Strings(added)
	stepped := false
	for _, n := range gone {
		if !slices.Contains(alive, n) {
			delete(next, n)
			stepped = true
			break
		}
	}
	if !stepped && len(added) > 0 {
		next[added[0]] = want[added[0]]
		stepped = true
	}
	return next, changed || stepped, !mapsEqualAddr(next, want)
}

func maps(m map[string]netip.AddrPort) map[string]netip.AddrPort {
	out := make(map[string]netip.AddrPort, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// membership is what the loop shares with the goroutine that writes
// LivenessAnnotation (no API call on the loop).
type membership struct {
	mu      sync.Mutex
	self    string   // value to publish on our Node; "" with publish: write ""
	publish bool     // false: leave our Node's annotation alone (not started yet)
	evict   []string // peers to mark "" (declared down long enough)
	kick    chan struct{}

	// owned by the writer
	published string    // last value we wrote on our Node
	evictedAt time.Time // when we found our address removed
}

// republishAfter: a speaker that finds its address removed (the others
// evicted it during a partition) puts it back this long after. The others
// then count it alive until they declare it down again (about DeadAfter), so
// while it stays cut off the IPs it would own go dark that long every
// republishAfter; once the partition heals it is back within this delay.
const republishAfter = 10 * time.Second

func (m *membership) setSelf(v string) {
	m.mu.Lock()
	m.self, m.publish = v, true
	m.mu.Unlock()
	poke(m.kick)
}

func (m *membership) setEvict(names []string) {
	m.mu.Lock()
	changed := !slices.Equal(m.evict, names)
	m.evict = names
	m.mu.Unlock()
	if changed {
		poke(m.kick)
	}
}

// syncPeers applies one step of the wanted member set to liveness, at most
// once per MembershipStep. Called from the loop only.
func (s *Speaker) syncPeers(now time.Time) {
	if s.mem == nil || mapsEqualAddr(s.peers, s.wantPeers) || now.Sub(s.peersAt) < s.opts.MembershipStep {
		return
	}
	next, changed, pending := stepPeers(s.peers, s.wantPeers, s.mem.Snapshot().Alive)
	if !changed {
		return
	}
	s.log.Info("liveness members", "members", len(next)+1, "pending", pending)
	s.peers, s.peersAt = next, now
	s.mem.SetPeers(next)
}

// trackDown records since when each peer is down and hands the ones down for
// EvictAfter to the writer. The first member of the alive set evicts; any
// member in quorum does after 3×EvictAfter (in case the first is not in
// quorum itself).
//
// A set of two never shrinks to one: the member the tie breaker put down may
// be alive behind a partition, and once the survivor stopped asking for the
// Lease (alone, it would not need it) the other could take it and announce
// too. So the last one stays one of two, in quorum through the Lease. Larger
// sets shrink to at least q ≥ 2 members: eviction needs a majority.
func (s *Speaker) trackDown(now time.Time, inQuorum bool, alive []string) {
	if len(s.peers) < 2 {
		inQuorum = false // track, never evict
	}
	for n := range s.downSince {
		if _, ok := s.peers[n]; !ok || slices.Contains(alive, n) {
			delete(s.downSince, n)
		}
	}
	var evict []string
	for n := range s.peers {
		if slices.Contains(alive, n) {
			continue
		}
		since, ok := s.downSince[n]
		if !ok {
			s.downSince[n] = now
			continue
		}
		first := len(alive) > 0 && alive[0] == s.opts.Node
		if inQuorum && (now.Sub(since) >= 3*s.opts.EvictAfter || first && now.Sub(since) >= s.opts.EvictAfter) {
			evict = append(evict, n)
		}
	}
	sort.Strings(evict)
	s.members.setEvict(evict)
}

// writeMembership keeps LivenessAnnotation on our Node and evicts the peers
// liveness declared down.
func (s *Speaker) writeMembership(ctx context.Context) {
	retry := time.NewTimer(0)
	tick := time.NewTicker(republishAfter)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.members.kick:
		case <-retry.C:
		case <-tick.C:
		}
		if err := s.writeMembershipOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Error(err, "writing the liveness membership", "annotation", LivenessAnnotation)
			retry.Reset(2 * time.Second)
		}
	}
}

func (s *Speaker) writeMembershipOnce(ctx context.Context) error {
	s.members.mu.Lock()
	self, publish, evict := s.members.self, s.members.publish, slices.Clone(s.members.evict)
	s.members.mu.Unlock()
	if publish {
		var n corev1.Node
		if err := s.reader.Get(ctx, types.NamespacedName{Name: s.opts.Node}, &n); err != nil {
			return err
		}
		v, ok := n.Annotations[LivenessAnnotation]
		switch {
		case ok && v == self:
		case ok && v == "" && self != "" && s.members.published == self &&
			(s.members.evictedAt.IsZero() || time.Since(s.members.evictedAt) < republishAfter):
			// Evicted while running (the others had us down): back in a
			// while, not at once.
			if s.members.evictedAt.IsZero() {
				s.members.evictedAt = time.Now()
				s.log.Info("evicted from the liveness members; publishing again later", "after", republishAfter)
			}
		default:
			if err := s.patchMember(ctx, s.opts.Node, self, ""); err != nil {
				return err
			}
			s.members.published, s.members.evictedAt = self, time.Time{}
			s.log.Info("published liveness membership", "annotation", LivenessAnnotation, "value", self)
		}
	}
	for _, name := range evict {
		var n corev1.Node
		if err := s.reader.Get(ctx, types.NamespacedName{Name: name}, &n); err != nil {
			continue // deleted: nothing to evict
		}
		if _, ok := Member(&n, s.opts.LivenessPort); !ok {
			continue
		}
		// On the resourceVersion we read: a speaker that restarted and
		// republished in between keeps its annotation.
		if err := s.patchMember(ctx, name, "", n.ResourceVersion); err != nil {
			s.log.Info("evicting a down liveness member failed; retrying", "node", name, "err", err.Error())
			continue
		}
		s.log.Info("evicted a liveness member declared down", "node", name)
	}
	return nil
}

// patchMember sets LivenessAnnotation on node (a JSON merge patch of that key,
// optionally conditional on resourceVersion rv).
func (s *Speaker) patchMember(ctx context.Context, node, value, rv string) error {
	meta := fmt.Sprintf(`"annotations":{%q:%q}`, LivenessAnnotation, value)
	if rv != "" {
		meta = fmt.Sprintf(`"resourceVersion":%q,%s`, rv, meta)
	}
	patch := []byte(`{"metadata":{` + meta + `}}`)
	return s.client.Patch(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}, client.RawPatch(types.MergePatchType, patch))
}

// electable is alive plus the members this speaker has not added to liveness
// yet (pending additions): another speaker may already count them, and they
// may be in quorum there, so their IPs are not ours to take. Not knowing a
// member must never count as having it down.
func (s *Speaker) electable(alive []string) []string {
	var extra []string
	for n := range s.wantPeers {
		if _, ok := s.peers[n]; !ok && !slices.Contains(alive, n) {
			extra = append(extra, n)
		}
	}
	if len(extra) == 0 {
		return alive
	}
	out := append(slices.Clone(alive), extra...)
	sort.Strings(out)
	return out
}
