package speaker

import (
	"context"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ironlb/ironlb/internal/scheme"
)

// TestLeaseTieBreaker: the first caller creates and holds the Lease and keeps
// it while it renews; the other wins only after seeing the same version for
// Duration by its own clock.
func TestLeaseTieBreaker(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.New()).Build()
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	a := &LeaseTieBreaker{Client: c, Reader: c, Namespace: "ns", Identity: "a", Duration: time.Second, now: clock}
	b := &LeaseTieBreaker{Client: c, Reader: c, Namespace: "ns", Identity: "b", Duration: time.Second, now: clock}
	ctx := context.Background()

	if !a.TryHold(ctx) {
		t.Fatal("a could not create the Lease")
	}
	if b.TryHold(ctx) {
		t.Fatal("b won while a holds")
	}
	// a keeps renewing: b never wins, however long it waits.
	for range 20 {
		now = now.Add(200 * time.Millisecond)
		if !a.TryHold(ctx) {
			t.Fatal("holder failed to renew")
		}
		if b.TryHold(ctx) {
			t.Fatal("b won while a renews")
		}
	}
	// a stops renewing: b wins after Duration of an unchanged Lease.
	now = now.Add(500 * time.Millisecond)
	if b.TryHold(ctx) {
		t.Fatal("b won before Duration")
	}
	now = now.Add(600 * time.Millisecond)
	if !b.TryHold(ctx) {
		t.Fatal("b did not take an expired Lease")
	}
	if a.TryHold(ctx) {
		t.Fatal("a still wins after b took over")
	}
	if !b.TryHold(ctx) {
		t.Fatal("b lost its renewal")
	}
}
