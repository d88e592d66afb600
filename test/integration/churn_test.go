package integration

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/app/controllerapp"
	"github.com/ironlb/ironlb/internal/scheme"
)

// invariantWatcher watches every Service of the given namespaces and records any
// moment (any watch event, i.e. any committed state of one object) where two
// Services show one IP. Churn tests use no IP sharing, so any common IP is a
// violation.
type invariantWatcher struct {
	mu         sync.Mutex
	ips        map[string][]string // service -> ingress IPs
	violations []string
	events     int
}

func watchInvariant(t *testing.T, ctx context.Context, lbClass string, namespaces ...string) *invariantWatcher {
	t.Helper()
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	w := &invariantWatcher{ips: map[string][]string{}}
	// One watch over all namespaces, not one per namespace: events of one
	// watch come in the API server's order (resourceVersion), while two
	// watches read by two goroutines interleave arbitrarily and could show a
	// new holder before the old holder's release that preceded it.
	wi, err := wc.Watch(ctx, &corev1.ServiceList{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer wi.Stop()
		for ev := range wi.ResultChan() {
			svc, ok := ev.Object.(*corev1.Service)
			if !ok || !slices.Contains(namespaces, svc.Namespace) {
				continue
			}
			w.observe(ev.Type, svc, lbClass)
		}
	}()
	return w
}

func (w *invariantWatcher) observe(typ watch.EventType, svc *corev1.Service, lbClass string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.events++
	key := svc.Namespace + "/" + svc.Name
	if typ == watch.Deleted || svc.Spec.LoadBalancerClass == nil || *svc.Spec.LoadBalancerClass != lbClass {
		delete(w.ips, key)
		return
	}
	var ips []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		ips = append(ips, in.IP)
	}
	w.ips[key] = ips
	for other, oips := range w.ips {
		if other == key {
			continue
		}
		for _, ip := range ips {
			for _, o := range oips {
				if ip == o {
					w.violations = append(w.violations, fmt.Sprintf("%s shown by %s and %s at resourceVersion %s", ip, key, other, svc.ResourceVersion))
				}
			}
		}
	}
}

func (w *invariantWatcher) check(t *testing.T) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.violations) > 0 {
		t.Fatalf("%d moments with one IP in two Services, first: %s", len(w.violations), strings.Join(w.violations[:min(5, len(w.violations))], "; "))
	}
}

// replica is one controller of a two-replica deployment.
type replica struct {
	cancel context.CancelFunc
	done   chan error
}

// TestChurnNeverShowsOneIPInTwoServices runs two controller replicas with leader
// election against the real API server while Services are created and deleted,
// the pool shrinks and grows, a pool is restricted to labelled namespaces, a
// namespace is relabelled, and the leader is crashed (lease left to expire) or
// stopped (lease released). A watcher on every Service fails the test on any
// moment where two Services show one IP.
func TestChurnNeverShowsOneIPInTwoServices(t *testing.T) {
	f := newFixture(t)
	ns2 := f.ns + "-b"
	if err := f.c.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns2}}); err != nil {
		t.Fatal(err)
	}
	watcher := watchInvariant(t, f.ctx, f.lbClass, f.ns, ns2)

	// Small pools keep Services competing for every freed IP.
	shared := f.pool("shared", []string{"198.18.64.0/29"})
	tenant := f.pool("tenant", []string{"198.18.65.0/30"}, func(p *metallbv1beta1.IPAddressPool) {
		p.Spec.AllocateTo = &metallbv1beta1.ServiceAllocation{Priority: 1, NamespaceSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"tenant": "yes"}}}}
	})
	_ = tenant

	lease := "churn-" + f.cfgNS
	o := controllerapp.Options{Namespace: f.cfgNS, LBClass: f.lbClass, Workers: 8, PoolStatusTick: 50 * time.Millisecond, LeaderElect: true, LeaseName: lease}
	var replicas []*replica
	startReplica := func(release bool) *replica {
		ctx, cancel := context.WithCancel(context.Background())
		r := &replica{cancel: cancel, done: make(chan error, 1)}
		go func() { r.done <- runReplica(ctx, o, release) }()
		return r
	}
	replicas = append(replicas, startReplica(true), startReplica(false))
	t.Cleanup(func() {
		for _, r := range replicas {
			r.cancel()
			<-r.done
		}
	})

	// IRONLB_CHURN_SECONDS runs the long version (minutes, for benchmarking);
	// IRONLB_CHURN_SEED picks another sequence of operations.
	seed, steps, runFor := uint64(7), 400, 45*time.Second
	if v, err := strconv.ParseUint(os.Getenv("IRONLB_CHURN_SEED"), 10, 64); err == nil {
		seed = v
	}
	if v, err := strconv.Atoi(os.Getenv("IRONLB_CHURN_SECONDS")); err == nil && v > 0 {
		steps, runFor = 1<<30, time.Duration(v)*time.Second
	}
	t.Logf("churn seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 11))
	names := map[string]bool{}
	next := 0
	var ops []string
	count := map[string]int{}
	deadline := time.Now().Add(runFor)
	for step := 0; step < steps && time.Now().Before(deadline); step++ {
		op := rnd.IntN(100)
		switch {
		case op < 40: // create
			ns := f.ns
			if rnd.IntN(2) == 0 {
				ns = ns2
			}
			name := fmt.Sprintf("s%d", next)
			next++
			s := f.newServiceObject(name)
			s.Namespace = ns
			if err := f.c.Create(f.ctx, s); err != nil {
				t.Fatal(err)
			}
			names[ns+"/"+name] = true
			count["create"]++
		case op < 60: // delete
			for k := range names {
				nsName := strings.SplitN(k, "/", 2)
				err := f.c.Delete(f.ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: nsName[0], Name: nsName[1]}})
				if err != nil && !apierrors.IsNotFound(err) {
					t.Fatal(err)
				}
				delete(names, k)
				break
			}
			count["delete"]++
		case op < 80: // shrink or grow the shared pool
			addrs := []string{"198.18.64.0/29"}
			if rnd.IntN(2) == 0 {
				addrs = []string{"198.18.64.0/30"}
			}
			f.updatePool(shared.Name, func(p *metallbv1beta1.IPAddressPool) { p.Spec.Addresses = addrs })
			count["pool-resize"]++
		case op < 88: // restrict the shared pool to one namespace or open it to labelled namespaces
			to := []string{f.ns, ns2, ""}[rnd.IntN(3)]
			f.updatePool(shared.Name, func(p *metallbv1beta1.IPAddressPool) {
				p.Spec.AllocateTo = nil
				if to != "" {
					p.Spec.AllocateTo = &metallbv1beta1.ServiceAllocation{Namespaces: []string{to}}
				}
			})
			count["pool-restrict"]++
		case op < 93: // relabel the second namespace
			var nsObj corev1.Namespace
			if err := f.c.Get(f.ctx, client.ObjectKey{Name: ns2}, &nsObj); err != nil {
				t.Fatal(err)
			}
			if nsObj.Labels["tenant"] == "yes" {
				delete(nsObj.Labels, "tenant")
			} else {
				if nsObj.Labels == nil {
					nsObj.Labels = map[string]string{}
				}
				nsObj.Labels["tenant"] = "yes"
			}
			if err := f.c.Update(f.ctx, &nsObj); err != nil && !apierrors.IsConflict(err) {
				t.Fatal(err)
			}
			count["relabel"]++
		default: // kill the leader: crash (lease left to expire) or graceful stop
			leader := f.leaseHolder(lease)
			if leader == "" {
				continue
			}
			// Replicas do not expose their identity; stop one at random: half the
			// time it is the leader, and both kinds of stop are exercised.
			i := rnd.IntN(len(replicas))
			replicas[i].cancel()
			<-replicas[i].done
			crash := rnd.IntN(2) == 0
			replicas[i] = startReplica(!crash)
			if crash {
				count["crash"]++
			} else {
				count["stop"]++
			}
		}
		time.Sleep(time.Duration(rnd.IntN(50)) * time.Millisecond)
		ops = append(ops, fmt.Sprint(op))
	}
	watcher.mu.Lock()
	events := watcher.events
	watcher.mu.Unlock()
	t.Logf("churn: %d steps %v, %d Services left, %d watch events", len(ops), count, len(names), events)

	// Settle: every remaining Service with room gets an IP, and no IP is shown twice.
	f.updatePool(shared.Name, func(p *metallbv1beta1.IPAddressPool) {
		p.Spec.Addresses = []string{"198.18.64.0/24"}
		p.Spec.AllocateTo = nil
	})
	f.eventually("every remaining Service to get an IP", func() (bool, error) {
		missing := 0
		for k := range names {
			nsName := strings.SplitN(k, "/", 2)
			var s corev1.Service
			if err := f.c.Get(f.ctx, client.ObjectKey{Namespace: nsName[0], Name: nsName[1]}, &s); err != nil {
				return false, err
			}
			if len(s.Status.LoadBalancer.Ingress) == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Errorf("%d of %d without an IP", missing, len(names))
	})
	watcher.check(t)
}

func (f *fixture) updatePool(name string, mut func(*metallbv1beta1.IPAddressPool)) {
	f.t.Helper()
	for {
		var p metallbv1beta1.IPAddressPool
		if err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.cfgNS, Name: name}, &p); err != nil {
			f.t.Fatal(err)
		}
		mut(&p)
		err := f.c.Update(f.ctx, &p)
		if err == nil {
			return
		}
		if !apierrors.IsConflict(err) {
			f.t.Fatal(err)
		}
	}
}

func (f *fixture) leaseHolder(name string) string {
	var l coordinationv1.Lease
	if err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.cfgNS, Name: name}, &l); err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// Restricting a full pool to another namespace evicts its holders; the waiting
// Services of that namespace must not show an evicted IP before its holder's status
// drops it (issue 7: team-a/waiting got 192.0.2.0 while default/holder showed it).
func TestRestrictingAFullPoolNeverShowsOneIPTwice(t *testing.T) {
	f := newFixture(t)
	teamA := f.ns + "-team-a"
	if err := f.c.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: teamA}}); err != nil {
		t.Fatal(err)
	}
	watcher := watchInvariant(t, f.ctx, f.lbClass, f.ns, teamA)
	pool := f.pool("full", []string{"198.18.66.0/27"})
	f.start()
	const n = 32
	f.createMany("holder", n)
	f.waitAllAssigned(n)
	for i := 0; i < n; i++ {
		s := f.newServiceObject(fmt.Sprintf("waiting-%d", i))
		s.Namespace = teamA
		if err := f.c.Create(f.ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	f.waitEvent(teamA, fmt.Sprintf("waiting-%d", n-1), corev1.EventTypeWarning, "AllocationFailed", "no available IPs")
	f.updatePool(pool.Name, func(p *metallbv1beta1.IPAddressPool) {
		p.Spec.AllocateTo = &metallbv1beta1.ServiceAllocation{Namespaces: []string{teamA}}
	})
	f.eventually("every team-a Service to get an IP", func() (bool, error) {
		var list corev1.ServiceList
		if err := f.c.List(f.ctx, &list, client.InNamespace(teamA)); err != nil {
			return false, err
		}
		got := 0
		for _, s := range list.Items {
			if len(s.Status.LoadBalancer.Ingress) > 0 {
				got++
			}
		}
		return got == n, fmt.Errorf("%d of %d", got, n)
	})
	watcher.check(t)
}
