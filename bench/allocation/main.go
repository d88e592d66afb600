// Command allocation measures how fast Services get their IPs on a real kube-apiserver:
// it creates N Services as fast as the API server accepts them and records, for each,
// the time from its create call to status.loadBalancer.ingress being set.
//
// It runs two controllers on the same control plane, one after the other:
//   - floor: writes a fixed status the moment a Service appears, and nothing else.
//     No controller can be faster than this; it is the API server's floor.
//   - ironlb: the real controller, allocating from a /16 pool.
//
// and prints p50, p99 and max for both, and ironlb's ratio to the floor. The target
// (issue "The controller") is ironlb within 2x of the floor at p50 and p99.
//
//	go run ./bench/allocation -services 5000
//	go run ./bench/allocation -leader-kills 20
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/app/controllerapp"
	"github.com/ironlb/ironlb/internal/scheme"
	"github.com/ironlb/ironlb/internal/testenv"
)

func main() {
	n := flag.Int("services", 5000, "Services to create per controller")
	creators := flag.Int("creators", 32, "parallel create calls")
	kills := flag.Int("leader-kills", 0, "instead: crash the leader of two replicas this many times mid-burst (20 for the figure) and print the standby's time to first allocation, beside controller-runtime's default lease timings")
	baseline := flag.Bool("baseline", true, "with -leader-kills: also measure controller-runtime's default lease timings")
	flag.Parse()
	ctrl.SetLogger(discard())
	if *kills > 0 {
		leaderKills(*kills, *baseline)
		return
	}

	fmt.Printf("creating %d Services per run, %d parallel creators, each run on a fresh kube-apiserver + etcd\n\n", *n, *creators)
	floor := onFreshControlPlane("floor", *n, *creators, startFloor)
	ironlb := onFreshControlPlane("ironlb", *n, *creators, startIronlb)

	fmt.Printf("\n%-8s %10s %10s %10s %12s\n", "", "p50", "p99", "max", "all done")
	for _, r := range []result{floor, ironlb} {
		fmt.Printf("%-8s %10s %10s %10s %12s\n", r.name, r.p(50), r.p(99), r.max(), r.total.Round(time.Millisecond))
	}
	r50 := float64(ironlb.p(50)) / float64(floor.p(50))
	r99 := float64(ironlb.p(99)) / float64(floor.p(99))
	verdict := func(r float64) string {
		if r <= 2 {
			return "PASS (target <= 2x)"
		}
		return "FAIL (target <= 2x)"
	}
	fmt.Printf("\nironlb / floor: p50 %.2fx %s, p99 %.2fx %s\n", r50, verdict(r50), r99, verdict(r99))
	fmt.Printf("peak RSS of this process (benchmark + floor + ironlb controllers, in-process): %d MiB\n", peakRSSMiB())
	fmt.Printf("reference, documented in the issue (MetalLB v0.16 controller, same machine kind): p50 13.6s, p99 25.2s, all 5000 after 77s\n")
}

// onFreshControlPlane gives each run the same starting point: an empty etcd and an
// API server that has served nothing else, so neither run pays for the other's objects.
func onFreshControlPlane(name string, n, creators int, start func(context.Context, *rest.Config, string, string) error) result {
	env, err := testenv.Start()
	if err != nil {
		fatal(fmt.Errorf("cannot start the API server: %w", err))
	}
	defer func() { _ = env.Stop() }()
	return run(env.Config, name, n, creators, start)
}

type result struct {
	name      string
	latencies []time.Duration
	total     time.Duration
}

func (r result) p(q int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := (len(r.latencies)*q + 99) / 100
	if i > 0 {
		i--
	}
	return r.latencies[i].Round(time.Millisecond)
}

func (r result) max() time.Duration { return r.latencies[len(r.latencies)-1].Round(time.Millisecond) }

// run starts a controller with start, creates n Services of its class and waits
// until all have an ingress IP.
func run(cfg *rest.Config, name string, n, creators int, start func(context.Context, *rest.Config, string, string) error) result {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := "bench-" + name
	class := "bench.ironlb.io/" + name
	cs := kubernetes.NewForConfigOrDie(cfg)
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- start(ctx, cfg, ns, class) }()
	time.Sleep(2 * time.Second) // let the controller's caches sync before the storm

	w, err := cs.CoreV1().Services(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		fatal(err)
	}
	var mu sync.Mutex
	created := make(map[string]time.Time, n)
	got := make(map[string]time.Duration, n)
	done := make(chan struct{})
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Modified && ev.Type != watch.Added {
				continue
			}
			svc, ok := ev.Object.(*corev1.Service)
			if !ok || len(svc.Status.LoadBalancer.Ingress) == 0 {
				continue
			}
			now := time.Now()
			mu.Lock()
			if _, seen := got[svc.Name]; !seen {
				if t0, ok := created[svc.Name]; ok {
					got[svc.Name] = now.Sub(t0)
					if len(got) == n {
						close(done)
					}
				}
			}
			mu.Unlock()
		}
	}()

	begin := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for c := 0; c < creators; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				svc := service(ns, fmt.Sprintf("svc-%d", i), class)
				mu.Lock()
				created[svc.Name] = time.Now()
				mu.Unlock()
				for {
					_, err := cs.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
					if err == nil {
						break
					}
					fmt.Fprintln(os.Stderr, "create:", err)
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	select {
	case <-done:
	case err := <-errc:
		fatal(fmt.Errorf("%s controller stopped: %v", name, err))
	case <-time.After(10 * time.Minute):
		fatal(fmt.Errorf("%s: only %d of %d Services got an IP in 10 minutes", name, len(got), n))
	}
	total := time.Since(begin)
	w.Stop()
	r := result{name: name, total: total}
	for _, d := range got {
		r.latencies = append(r.latencies, d)
	}
	sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
	fmt.Printf("%-8s all %d Services had an IP after %s\n", name, n, total.Round(time.Millisecond))
	return r
}

func service(ns, name, class string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:              corev1.ServiceTypeLoadBalancer,
			LoadBalancerClass: &class,
			// Thousands of Services would exhaust the node port range (2,768 ports).
			AllocateLoadBalancerNodePorts: new(false),
			Selector:                      map[string]string{"app": name},
			Ports:                         []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
}

// clientSettings are shared by both controllers so the comparison is fair.
func clientSettings(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst = 500, 1000
	return c
}

func newManager(cfg *rest.Config) (ctrl.Manager, error) {
	skip := true
	return ctrl.NewManager(clientSettings(cfg), ctrl.Options{
		Scheme:     scheme.New(),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: &skip},
	})
}

// startFloor runs the floor controller: on any Service of its class without an
// ingress, write a fixed ingress. Same parallelism as ironlb's default.
func startFloor(ctx context.Context, cfg *rest.Config, _ string, class string) error {
	mgr, err := newManager(cfg)
	if err != nil {
		return err
	}
	r := reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		var svc corev1.Service
		if err := mgr.GetClient().Get(ctx, req.NamespacedName, &svc); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(err)
		}
		if svc.Spec.LoadBalancerClass == nil || *svc.Spec.LoadBalancerClass != class || len(svc.Status.LoadBalancer.Ingress) > 0 {
			return reconcile.Result{}, nil
		}
		patch := client.MergeFrom(svc.DeepCopy())
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.1"}}
		return reconcile.Result{}, mgr.GetClient().Status().Patch(ctx, &svc, patch)
	})
	if err := ctrl.NewControllerManagedBy(mgr).Named("floor").
		For(&corev1.Service{}, builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		WithOptions(controller.Options{MaxConcurrentReconciles: 16}).
		Complete(r); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// startIronlb runs ironlb's controller with a /16 pool in its own config namespace.
func startIronlb(ctx context.Context, cfg *rest.Config, ns, class string) error {
	cfgNS := ns + "-config"
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: cfgNS}}); err != nil {
		return err
	}
	if err := c.Create(ctx, &metallbv1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: cfgNS, Name: "bench"},
		Spec:       metallbv1beta1.IPAddressPoolSpec{Addresses: []string{"198.18.0.0/16"}},
	}); err != nil {
		return err
	}
	mgr, err := newManager(cfg)
	if err != nil {
		return err
	}
	if err := controllerapp.SetupWithRegistry(mgr, controllerapp.Options{Namespace: cfgNS, LBClass: class, QPS: 500, Burst: 1000}, nil); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// peakRSSMiB reads VmHWM from /proc/self/status.
func peakRSSMiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			return kb / 1024
		}
	}
	return -1
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}
