package controllerapp

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// memLock is a narrow stand-in for the Lease: the fence logic only needs to know
// which Create/Update calls succeeded.
type memLock struct {
	resourcelock.Interface
	fail bool
}

func (m *memLock) Identity() string { return "me" }
func (m *memLock) Create(context.Context, resourcelock.LeaderElectionRecord) error {
	if m.fail {
		return errors.New("apiserver unreachable")
	}
	return nil
}
func (m *memLock) Update(ctx context.Context, r resourcelock.LeaderElectionRecord) error {
	return m.Create(ctx, r)
}

func TestFenceClosesWhenTheLeaseMayHavePassed(t *testing.T) {
	mine := resourcelock.LeaderElectionRecord{HolderIdentity: "me", LeaseDurationSeconds: 3600}
	cases := map[string]struct {
		lease  time.Duration
		steps  func(l *FencedLock, m *memLock)
		wantOK bool
	}{
		"no lease yet: no write": {
			lease: time.Hour, steps: func(*FencedLock, *memLock) {}, wantOK: false,
		},
		"acquired: writes until the lease less the margin": {
			lease: time.Hour, steps: func(l *FencedLock, _ *memLock) { _ = l.Create(context.Background(), mine) }, wantOK: true,
		},
		"a failed renew does not extend the fence": {
			lease: time.Hour, steps: func(l *FencedLock, m *memLock) { m.fail = true; _ = l.Update(context.Background(), mine) }, wantOK: false,
		},
		"released: the fence closes before the Lease says so": {
			lease: time.Hour, steps: func(l *FencedLock, _ *memLock) {
				_ = l.Create(context.Background(), mine)
				_ = l.Update(context.Background(), resourcelock.LeaderElectionRecord{})
			}, wantOK: false,
		},
		"the record's whole seconds bound the fence, not the configured duration": {
			lease: time.Hour, steps: func(l *FencedLock, _ *memLock) {
				_ = l.Create(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "me", LeaseDurationSeconds: 0})
			}, wantOK: false,
		},
		"paused past the lease (no renew since): no write": {
			lease: 2 * time.Millisecond, steps: func(l *FencedLock, _ *memLock) {
				_ = l.Create(context.Background(), mine)
				for _, ok := l.WriteDeadline(); ok; _, ok = l.WriteDeadline() {
					time.Sleep(time.Millisecond) // waits for the condition, however slow the machine
				}
			}, wantOK: false,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := &memLock{}
			l := NewFencedLock(m, tc.lease, time.Millisecond)
			tc.steps(l, m)
			if _, ok := l.WriteDeadline(); ok != tc.wantOK {
				t.Fatalf("WriteDeadline ok = %v, want %v", ok, tc.wantOK)
			}
		})
	}
}
