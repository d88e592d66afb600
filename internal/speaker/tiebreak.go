package speaker

import (
	"context"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TieBreakLeaseName is the Lease, in the speaker namespace, that lets one of the
// two speakers of a two-node cluster stay in quorum when they cannot hear each
// other (liveness.Config.TieBreaker).
const TieBreakLeaseName = "ironlb-l2-tiebreak"

// LeaseTieBreaker implements liveness.Config.TieBreaker with a coordination.k8s.io
// Lease. It never trusts clocks across nodes (renewTime is informative only):
//
//   - the holder says yes only after renewing (an optimistic-concurrency Update),
//     so its yes starts at the beginning of the call;
//   - another speaker takes the Lease only after it has seen the same
//     resourceVersion, by its own monotonic clock, for Duration, and takes it
//     with an Update on that resourceVersion (a renewal in between conflicts).
//
// A renewal at time t therefore cannot be overtaken before t+Duration, and
// Duration (default 1s) exceeds liveness StopAfter (300ms): a yes holds for
// StopAfter, as liveness requires. Without an API server nobody wins, so the
// two nodes stop announcing rather than risk a split brain.
type LeaseTieBreaker struct {
	Client    client.Client // writes
	Reader    client.Reader // uncached reads
	Namespace string
	Name      string
	Identity  string
	Duration  time.Duration

	mu         sync.Mutex
	observedRV string
	observedAt time.Time
	now        func() time.Time
}

func (l *LeaseTieBreaker) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

func (l *LeaseTieBreaker) duration() time.Duration {
	if l.Duration <= 0 {
		return time.Second
	}
	return l.Duration
}

// TryHold reports whether this speaker holds the Lease for at least Duration from
// the start of the call. It is safe for concurrent use (calls serialize).
func (l *LeaseTieBreaker) TryHold(ctx context.Context) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	name := l.Name
	if name == "" {
		name = TieBreakLeaseName
	}
	secs := int32((l.duration() + time.Second - 1) / time.Second)
	now := metav1.NewMicroTime(time.Now())
	var lease coordinationv1.Lease
	err := l.Reader.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: name}, &lease)
	if apierrors.IsNotFound(err) {
		lease = coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: l.Namespace, Name: name},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity: &l.Identity, LeaseDurationSeconds: &secs,
				AcquireTime: &now, RenewTime: &now,
			},
		}
		return l.Client.Create(ctx, &lease) == nil && ctx.Err() == nil
	}
	if err != nil {
		return false
	}
	seen := l.clock()
	holder := ""
	if lease.Spec.HolderIdentity != nil {
		holder = *lease.Spec.HolderIdentity
	}
	if holder != l.Identity && holder != "" {
		if lease.ResourceVersion != l.observedRV {
			l.observedRV, l.observedAt = lease.ResourceVersion, seen
			return false
		}
		if seen.Sub(l.observedAt) < l.duration() {
			return false
		}
	}
	if holder != l.Identity {
		lease.Spec.AcquireTime = &now
		t := int32(0)
		if lease.Spec.LeaseTransitions != nil {
			t = *lease.Spec.LeaseTransitions
		}
		t++
		lease.Spec.LeaseTransitions = &t
	}
	lease.Spec.HolderIdentity = &l.Identity
	lease.Spec.LeaseDurationSeconds = &secs
	lease.Spec.RenewTime = &now
	if err := l.Client.Update(ctx, &lease); err != nil {
		return false
	}
	l.observedRV = lease.ResourceVersion
	return ctx.Err() == nil
}
