package controllerapp

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Lease timings. controller-runtime's defaults (15 s / 10 s / 2 s) stall allocation
// for up to 15 s after a leader crash. A standby takes over once it has seen the
// Lease unchanged for LeaseDuration, polling every RetryPeriod, so a crash costs at
// most LeaseDuration + two jittered RetryPeriods (client-go waits up to 2.2x
// RetryPeriod between polls) + re-adoption; a graceful stop releases the Lease
// and costs one jittered RetryPeriod. With 0.25 s retries the crash p99 was 3.6 s;
// a 1 s lease would be faster but makes a leader on a loaded machine step down
// for one slow renew.
const (
	LeaseDuration = 2 * time.Second // whole seconds: the Lease records it in seconds
	RenewDeadline = 1500 * time.Millisecond
	RetryPeriod   = 150 * time.Millisecond
	// FenceMargin is taken off the lease for the write fence: it covers a write in
	// flight when the fence closes and clock-rate drift between replicas.
	FenceMargin = 500 * time.Millisecond
)

// FencedLock is the Lease lock with a write fence. Every successful acquire or
// renew started at t proves nobody else can lead before t + LeaseDuration: a
// standby waits a full LeaseDuration from when it *observes* the renewed record,
// which is after t. The controller writes allocations only before
// t + LeaseDuration - FenceMargin and cancels any write still unsent then, so a
// leader that was paused (SIGSTOP, a long GC, a frozen VM) past its lease and
// resumes cannot write an allocation after a new leader may have started.
type FencedLock struct {
	resourcelock.Interface
	leaseDuration, margin time.Duration

	mu         sync.Mutex
	validUntil time.Time // monotonic
}

// NewFencedLock wraps lock.
func NewFencedLock(lock resourcelock.Interface, leaseDuration, margin time.Duration) *FencedLock {
	return &FencedLock{Interface: lock, leaseDuration: leaseDuration, margin: margin}
}

// NewLeaseLock builds the Lease lock controller-runtime would, fenced.
func NewLeaseLock(cfg *rest.Config, namespace, name string) (*FencedLock, error) {
	cs, err := kubernetes.NewForConfig(rest.AddUserAgent(rest.CopyConfig(cfg), "leader-election"))
	if err != nil {
		return nil, fmt.Errorf("creating the leader election client: %w", err)
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("leader election identity: %w", err)
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, namespace, name, cs.CoreV1(), cs.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: host + "_" + string(uuid.NewUUID())})
	if err != nil {
		return nil, fmt.Errorf("creating the leader election lock: %w", err)
	}
	return NewFencedLock(lock, LeaseDuration, FenceMargin), nil
}

func (l *FencedLock) record(start time.Time, ler resourcelock.LeaderElectionRecord, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && ler.HolderIdentity == l.Identity() {
		// Other replicas honour the duration written in the record, in whole
		// seconds (client-go truncates 1.5 s to 1 s): never assume more.
		d := l.leaseDuration
		if rec := time.Duration(ler.LeaseDurationSeconds) * time.Second; rec < d {
			d = rec
		}
		l.validUntil = start.Add(d - l.margin)
	}
}

// Create acquires a Lease that does not exist yet.
func (l *FencedLock) Create(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	start := time.Now()
	err := l.Interface.Create(ctx, ler)
	l.record(start, ler, err)
	return err
}

// Update acquires, renews or releases the Lease.
func (l *FencedLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	if ler.HolderIdentity != l.Identity() {
		// Releasing (ReleaseOnCancel): close the fence before the Lease says so.
		l.mu.Lock()
		l.validUntil = time.Time{}
		l.mu.Unlock()
	}
	start := time.Now()
	err := l.Interface.Update(ctx, ler)
	l.record(start, ler, err)
	return err
}

// WriteDeadline returns when this replica must stop writing allocations, and false
// when it holds no valid lease.
func (l *FencedLock) WriteDeadline() (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.validUntil.IsZero() || !time.Now().Before(l.validUntil) {
		return time.Time{}, false
	}
	return l.validUntil, true
}

// LeaderOptions sets the manager's leader election to the fenced Lease and the
// timings above. It returns the lock (nil without leader election), whose
// WriteDeadline fences the allocation writes: pass it as Options.Fence.
func LeaderOptions(cfg *rest.Config, o *ctrl.Options, namespace, name string) (*FencedLock, error) {
	return LeaderOptionsWith(cfg, o, namespace, name, LeaseDuration, RenewDeadline, RetryPeriod)
}

// LeaderOptionsWith is LeaderOptions with other timings (benchmarks compare
// controller-runtime's defaults). The fence margin is a quarter of the lease,
// at most FenceMargin.
func LeaderOptionsWith(cfg *rest.Config, o *ctrl.Options, namespace, name string, ld, rd, rp time.Duration) (*FencedLock, error) {
	if !o.LeaderElection {
		return nil, nil
	}
	lock, err := NewLeaseLock(cfg, namespace, name)
	if err != nil {
		return nil, err
	}
	lock.leaseDuration, lock.margin = ld.Truncate(time.Second), min(FenceMargin, ld/4)
	o.LeaderElectionResourceLockInterface = lock
	o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = &ld, &rd, &rp
	o.LeaderElectionReleaseOnCancel = true
	return lock, nil
}
