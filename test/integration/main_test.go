// Package integration runs ironlb's controller against a real kube-apiserver and
// etcd (built by hack/kube-binaries.sh) and checks what a user sees: Service status,
// annotations, events, pool status and ConfigurationState.
package integration

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/app/controllerapp"
	"github.com/ironlb/ironlb/internal/scheme"
	"github.com/ironlb/ironlb/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrl.SetLogger(discardLogger())
	os.Exit(testenv.Main(m, &env))
}

var seq atomic.Int64

// fixture is one test's private world: a config namespace for its pools, a
// namespace for its Services and a load balancer class, so tests never see each
// other's objects, and a controller serving exactly them.
type fixture struct {
	t       *testing.T
	ctx     context.Context
	c       client.Client
	cfgNS   string
	ns      string
	lbClass string
	stop    context.CancelFunc
	done    chan error
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	testenv.Require(t, env)
	n := seq.Add(1)
	f := &fixture{
		t:       t,
		ctx:     t.Context(),
		cfgNS:   fmt.Sprintf("lbcfg-%d", n),
		ns:      fmt.Sprintf("svc-%d", n),
		lbClass: fmt.Sprintf("ironlb.test/t%d", n),
	}
	c, err := client.New(env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	for _, ns := range []string{f.cfgNS, f.ns} {
		if err := c.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// start runs a controller for this fixture until the test ends or stop is called.
func (f *fixture) start(opts ...func(*controllerapp.Options)) {
	f.t.Helper()
	o := controllerapp.Options{Namespace: f.cfgNS, LBClass: f.lbClass, Workers: 8, PoolStatusTick: 50 * time.Millisecond}
	for _, fn := range opts {
		fn(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	f.stop, f.done = cancel, done
	go func() { done <- runController(ctx, o) }()
	f.t.Cleanup(f.stopController)
}

func (f *fixture) stopController() {
	if f.stop == nil {
		return
	}
	f.stop()
	if err := <-f.done; err != nil {
		f.t.Errorf("controller: %v", err)
	}
	f.stop = nil
}

func runController(ctx context.Context, o controllerapp.Options) error {
	return runReplica(ctx, o, true)
}

// runReplica runs one controller; with leader election it uses the controller's
// own fenced Lease and timings. release=false leaves the Lease to expire when ctx
// ends, as a crashed replica would.
func runReplica(ctx context.Context, o controllerapp.Options, release bool) error {
	cfg := *env.Config
	mo := ctrl.Options{
		Scheme:                        scheme.New(),
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaseName,
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 durationPtr(4 * time.Second),
		RenewDeadline:                 durationPtr(2 * time.Second),
		RetryPeriod:                   durationPtr(500 * time.Millisecond),
		Controller:                    ctrlConfigSkipNameValidation(),
	}
	if o.LeaderElect {
		lock, err := controllerapp.LeaderOptions(&cfg, &mo, o.Namespace, o.LeaseName)
		if err != nil {
			return err
		}
		o.Fence = lock
		mo.LeaderElectionReleaseOnCancel = release
	}
	mgr, err := ctrl.NewManager(&cfg, mo)
	if err != nil {
		return err
	}
	if err := controllerapp.SetupWithRegistry(mgr, o, nil); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

func durationPtr(d time.Duration) *time.Duration { return &d }

type poolOpt func(*metallbv1beta1.IPAddressPool)

func (f *fixture) pool(name string, addrs []string, opts ...poolOpt) *metallbv1beta1.IPAddressPool {
	f.t.Helper()
	p := &metallbv1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.cfgNS, Name: name},
		Spec:       metallbv1beta1.IPAddressPoolSpec{Addresses: addrs},
	}
	for _, o := range opts {
		o(p)
	}
	if err := f.c.Create(f.ctx, p); err != nil {
		f.t.Fatalf("creating pool %s: %v", name, err)
	}
	return p
}

func noAutoAssign(p *metallbv1beta1.IPAddressPool) { p.Spec.AutoAssign = new(bool) }

type svcOpt func(*corev1.Service)

func annotate(k, v string) svcOpt {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}

func ports(proto corev1.Protocol, nums ...int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.Ports = nil
		for _, n := range nums {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: fmt.Sprintf("p%d", n), Protocol: proto, Port: n, TargetPort: intstr.FromInt32(n)})
		}
	}
}

func requestIP(ip string) svcOpt { return func(s *corev1.Service) { s.Spec.LoadBalancerIP = ip } }

func (f *fixture) service(name string, opts ...svcOpt) *corev1.Service {
	f.t.Helper()
	s := f.newServiceObject(name, opts...)
	if err := f.c.Create(f.ctx, s); err != nil {
		f.t.Fatalf("creating service %s: %v", name, err)
	}
	return s
}

func (f *fixture) newServiceObject(name string, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: name},
		Spec: corev1.ServiceSpec{
			Type:              corev1.ServiceTypeLoadBalancer,
			LoadBalancerClass: &f.lbClass,
			// Tests create thousands of Services; node ports (2,768) would run out.
			AllocateLoadBalancerNodePorts: new(false),
			Selector:                      map[string]string{"app": name},
			Ports:                         []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (f *fixture) get(name string) *corev1.Service {
	f.t.Helper()
	var s corev1.Service
	if err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: name}, &s); err != nil {
		f.t.Fatalf("getting service %s: %v", name, err)
	}
	return &s
}

func ingress(s *corev1.Service) []string {
	var out []string
	for _, i := range s.Status.LoadBalancer.Ingress {
		out = append(out, i.IP)
	}
	return out
}

// eventually polls cond with a generous deadline: the machine is shared and slow,
// so tests wait for conditions, never for durations.
func (f *fixture) eventually(what string, cond func() (bool, error)) {
	f.t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(f.ctx, 20*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		f.t.Fatalf("timed out waiting for %s (last error: %v)", what, last)
	}
}

// waitIPs waits until the Service's ingress equals want.
func (f *fixture) waitIPs(name string, want ...string) {
	f.t.Helper()
	sort.Strings(want)
	var got []string
	f.eventually(fmt.Sprintf("service %s to have ingress %v", name, want), func() (bool, error) {
		got = ingress(f.get(name))
		sort.Strings(got)
		return strings.Join(got, ",") == strings.Join(want, ","), fmt.Errorf("ingress is %v", got)
	})
}

// waitAnyIP waits for the Service to get some IP and returns it.
func (f *fixture) waitAnyIP(name string) string {
	f.t.Helper()
	var ip string
	f.eventually(fmt.Sprintf("service %s to get an IP", name), func() (bool, error) {
		ips := ingress(f.get(name))
		if len(ips) == 1 {
			ip = ips[0]
		}
		return ip != "", nil
	})
	return ip
}

// waitEvent waits for an event on the object with the reason and a message
// containing msg, returning the message.
func (f *fixture) waitEvent(ns, name, eventType, reason, msg string) string {
	f.t.Helper()
	var found string
	var seen []string
	f.eventually(fmt.Sprintf("event %s %q on %s/%s", reason, msg, ns, name), func() (bool, error) {
		var list corev1.EventList
		if err := f.c.List(f.ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		seen = seen[:0]
		for _, e := range list.Items {
			if e.InvolvedObject.Name != name {
				continue
			}
			seen = append(seen, e.Type+" "+e.Reason+": "+e.Message)
			if e.Type == eventType && e.Reason == reason && strings.Contains(e.Message, msg) {
				found = e.Message
				return true, nil
			}
		}
		return false, fmt.Errorf("events seen: %q", seen)
	})
	return found
}

// stillPending checks, after the controller has demonstrably handled the Service
// (an event for it exists), that it holds no IP.
func (f *fixture) assertNoIP(name string) {
	f.t.Helper()
	if ips := ingress(f.get(name)); len(ips) != 0 {
		f.t.Fatalf("service %s got %v, want no IP", name, ips)
	}
}
