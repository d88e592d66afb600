package main

import (
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/app/controllerapp"
	"github.com/ironlb/ironlb/internal/scheme"
	"github.com/ironlb/ironlb/internal/testenv"
)

// timings are one leader election setting to measure.
type timings struct {
	name       string
	ld, rd, rp time.Duration
	graceful   bool // stop the leader (SIGTERM: the Lease is released) instead of crashing it
}

// leaderKills measures, for ironlb's lease timings and controller-runtime's
// defaults on the same fresh control plane each, the time from crashing the
// leader (its lease left to expire, as with SIGKILL) in the middle of a burst of
// creates to the standby's first allocation.
func leaderKills(kills int, baseline bool) {
	sets := []timings{
		{fmt.Sprintf("ironlb (%s/%s/%s)", controllerapp.LeaseDuration, controllerapp.RenewDeadline, controllerapp.RetryPeriod),
			controllerapp.LeaseDuration, controllerapp.RenewDeadline, controllerapp.RetryPeriod, false},
	}
	sets = append(sets, timings{sets[0].name + ", graceful stop", controllerapp.LeaseDuration, controllerapp.RenewDeadline, controllerapp.RetryPeriod, true})
	if baseline {
		sets = append(sets, timings{"controller-runtime defaults (15s/10s/2s)", 15 * time.Second, 10 * time.Second, 2 * time.Second, false})
	}
	fmt.Printf("leader kill: %d crashes per setting, two replicas, Services created at ~20/s throughout\n\n", kills)
	type row struct {
		name          string
		p50, p99, max time.Duration
	}
	var rows []row
	for _, tm := range sets {
		env, err := testenv.Start()
		if err != nil {
			fatal(fmt.Errorf("cannot start the API server: %w", err))
		}
		lat := killRun(env.Config, tm, kills)
		_ = env.Stop()
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		q := func(p int) time.Duration {
			i := (len(lat)*p + 99) / 100
			return lat[max(i-1, 0)].Round(time.Millisecond)
		}
		rows = append(rows, row{tm.name, q(50), q(99), lat[len(lat)-1].Round(time.Millisecond)})
	}
	fmt.Printf("\n%-58s %8s %8s %8s\n", "standby time to first allocation", "p50", "p99", "max")
	for _, r := range rows {
		fmt.Printf("%-58s %8s %8s %8s\n", r.name, r.p50, r.p99, r.max)
	}
}

type benchReplica struct {
	lock   *controllerapp.FencedLock
	cancel context.CancelFunc
	done   chan error
}

func startReplica(cfg *rest.Config, tm timings, cfgNS, class string) *benchReplica {
	ctx, cancel := context.WithCancel(context.Background())
	skip := true
	mo := ctrl.Options{
		Scheme:         scheme.New(),
		Metrics:        metricsserver.Options{BindAddress: "0"},
		Controller:     config.Controller{SkipNameValidation: &skip},
		LeaderElection: true,
	}
	lock, err := controllerapp.LeaderOptionsWith(clientSettings(cfg), &mo, cfgNS, "bench-lease", tm.ld, tm.rd, tm.rp)
	if err != nil {
		fatal(err)
	}
	mo.LeaderElectionReleaseOnCancel = tm.graceful // a crash leaves the lease to expire
	mgr, err := ctrl.NewManager(clientSettings(cfg), mo)
	if err != nil {
		fatal(err)
	}
	if err := controllerapp.SetupWithRegistry(mgr, controllerapp.Options{Namespace: cfgNS, LBClass: class, QPS: 500, Burst: 1000, Fence: lock}, nil); err != nil {
		fatal(err)
	}
	r := &benchReplica{lock: lock, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- mgr.Start(ctx) }()
	return r
}

func (r *benchReplica) leading() bool { _, ok := r.lock.WriteDeadline(); return ok }

func killRun(cfg *rest.Config, tm timings, kills int) []time.Duration {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns, cfgNS, class := "bench-kill", "bench-kill-config", "bench.ironlb.io/kill"
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		fatal(err)
	}
	for _, n := range []string{ns, cfgNS} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}); err != nil {
			fatal(err)
		}
	}
	if err := c.Create(ctx, &metallbv1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: cfgNS, Name: "bench"},
		Spec:       metallbv1beta1.IPAddressPoolSpec{Addresses: []string{"198.18.0.0/16"}},
	}); err != nil {
		fatal(err)
	}
	replicas := []*benchReplica{startReplica(cfg, tm, cfgNS, class), startReplica(cfg, tm, cfgNS, class)}
	defer func() {
		for _, r := range replicas {
			r.cancel()
			<-r.done
		}
	}()
	cs := kubernetes.NewForConfigOrDie(clientSettings(cfg))
	// The burst: a steady stream of creates throughout.
	var seq atomic.Int64
	go func() {
		for ctx.Err() == nil {
			i := seq.Add(1)
			_, _ = cs.CoreV1().Services(ns).Create(ctx, service(ns, fmt.Sprintf("burst-%d", i), class), metav1.CreateOptions{})
			time.Sleep(50 * time.Millisecond)
		}
	}()
	var lat []time.Duration
	for k := 0; k < kills; k++ {
		// Wait for a leader that has allocated, and a warm standby.
		var leader int
		for {
			leader = -1
			for i, r := range replicas {
				if r.leading() {
					leader = i
				}
			}
			if leader >= 0 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(2 * time.Second) // the standby's caches sync; the burst runs on the leader
		t0 := time.Now()
		replicas[leader].cancel()
		<-replicas[leader].done
		probe := fmt.Sprintf("probe-%d", k)
		if _, err := cs.CoreV1().Services(ns).Create(ctx, service(ns, probe, class), metav1.CreateOptions{}); err != nil {
			fatal(err)
		}
		for {
			s, err := cs.CoreV1().Services(ns).Get(ctx, probe, metav1.GetOptions{})
			if err == nil && len(s.Status.LoadBalancer.Ingress) > 0 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		d := time.Since(t0)
		lat = append(lat, d)
		fmt.Printf("%-42s kill %2d: standby allocated after %s\n", tm.name, k+1, d.Round(time.Millisecond))
		replicas[leader] = startReplica(cfg, tm, cfgNS, class)
	}
	return lat
}
