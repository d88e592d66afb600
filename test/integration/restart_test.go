package integration

import (
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/app/controllerapp"
)

// createMany creates n Services named prefix-i with a few parallel writers.
func (f *fixture) createMany(prefix string, n int, opts ...svcOpt) {
	f.t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				s := f.newServiceObject(fmt.Sprintf("%s-%d", prefix, i), opts...)
				if err := f.c.Create(f.ctx, s); err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		f.t.Fatal(err)
	}
}

// ipsByService lists every Service of the fixture and its ingress IPs.
func (f *fixture) ipsByService() map[string]string {
	f.t.Helper()
	var list corev1.ServiceList
	if err := f.c.List(f.ctx, &list, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	out := make(map[string]string, len(list.Items))
	for _, s := range list.Items {
		ips := ingress(&s)
		if len(ips) == 1 {
			out[s.Name] = ips[0]
		} else {
			out[s.Name] = fmt.Sprint(ips)
		}
	}
	return out
}

func (f *fixture) waitAllAssigned(n int) map[string]string {
	f.t.Helper()
	var got map[string]string
	f.eventually(fmt.Sprintf("%d services to have one IP each", n), func() (bool, error) {
		got = f.ipsByService()
		assigned := 0
		for _, ip := range got {
			if ip != "[]" {
				assigned++
			}
		}
		return assigned == n, fmt.Errorf("%d of %d assigned", assigned, n)
	})
	return got
}

func assertUnique(t *testing.T, ips map[string]string) {
	t.Helper()
	seen := map[string]string{}
	for svc, ip := range ips {
		if other, dup := seen[ip]; dup {
			t.Fatalf("IP %s given to both %s and %s", ip, other, svc)
		}
		seen[ip] = svc
	}
}

// A restart must not move a single IP, even when Services that are still pending
// race the re-adoption of the assigned ones, and even though the pools now have free
// addresses lower than the ones in use.
func TestRestartWith1000AssignedServicesChangesNoIP(t *testing.T) {
	f := newFixture(t)
	f.pool("big", []string{"198.18.0.0/20"})
	f.start()
	const n = 1000
	f.createMany("svc", n)
	before := f.waitAllAssigned(n)
	assertUnique(t, before)

	f.stopController()
	// While the controller is down: free some low addresses and queue new Services
	// that would love to take them.
	for i := 0; i < 50; i++ {
		if err := f.c.Delete(f.ctx, f.get(fmt.Sprintf("svc-%d", i*7))); err != nil {
			t.Fatal(err)
		}
		delete(before, fmt.Sprintf("svc-%d", i*7))
	}
	f.createMany("late", 100)
	f.start()
	after := f.waitAllAssigned(n - 50 + 100)
	changed := 0
	for svc, ip := range before {
		if after[svc] != ip {
			changed++
			t.Errorf("%s moved from %s to %s", svc, ip, after[svc])
		}
	}
	assertUnique(t, after)
	t.Logf("restart: %d services kept their IPs, %d changed", len(before)-changed, changed)
}

// Two replicas with leader election run at once: only the leader allocates, and when
// it goes away the other takes over without handing out any IP twice.
func TestTwoReplicasWithLeaderElectionNeverDuplicateAnIP(t *testing.T) {
	f := newFixture(t)
	f.pool("ha", []string{"198.18.16.0/22"})
	leader := func(o *controllerapp.Options) { o.LeaderElect, o.LeaseName = true, "ironlb-test-lease" }
	f.start(leader)
	first := f.stop
	firstDone := f.done
	f.stop = nil // the second start below owns cleanup of its own controller
	f.start(leader)

	f.createMany("a", 300)
	assertUnique(t, f.waitAllAssigned(300))

	// Stop the first replica; if it was the leader the second takes over.
	first()
	if err := <-firstDone; err != nil {
		t.Errorf("first replica: %v", err)
	}
	f.createMany("b", 300)
	all := f.waitAllAssigned(600)
	assertUnique(t, all)
	_ = time.Second
}
