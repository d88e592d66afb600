// Package controllerapp wires ironlb's controller: the manager, its caches, the
// allocation loops, leader election, probes and metrics. cmd/controller parses flags
// into Options and calls Run; tests call Run in-process against a real API server.
package controllerapp

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/controller/allocation"
	"github.com/ironlb/ironlb/internal/controller/speakersecret"
	ironlbruntime "github.com/ironlb/ironlb/internal/runtime"
	"github.com/ironlb/ironlb/internal/scheme"
)

// EventSource is the component name on the events the controller records, as
// MetalLB's controller names itself.
const EventSource = "metallb-controller"

// Options configure the controller.
type Options struct {
	Namespace      string
	LBClass        string
	MetricsAddr    string
	ProbeAddr      string
	LeaderElect    bool
	LeaseName      string
	Workers        int
	QPS            float32
	Burst          int
	PoolStatusTick time.Duration
	// Fence bounds allocation writes by the leader lease (LeaderOptions sets it up).
	// Nil writes unfenced: without leader election there is no one to fence off.
	Fence allocation.Fence
	// RepeatedInProcess lets one process run the controller more than once (tests):
	// controller-runtime otherwise refuses a second controller of the same name.
	RepeatedInProcess bool
}

// BindFlags registers the controller's flags.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Namespace, "namespace", "metallb-system", "namespace holding the metallb.io configuration (IPAddressPools, ...)")
	fs.StringVar(&o.LBClass, "lb-class", "", "handle only Services with this spec.loadBalancerClass (default: Services with no class)")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":7472", "address serving Prometheus metrics; 0 disables")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":7473", "address serving /healthz and /readyz; 0 disables")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "elect a leader through a Lease so several replicas can run; only the leader allocates")
	fs.StringVar(&o.LeaseName, "leader-election-id", "ironlb-controller", "name of the leader election Lease in --namespace")
	fs.IntVar(&o.Workers, "workers", 16, "Services reconciled in parallel (allocation itself is serialized; API writes are not)")
	fs.Func("kube-api-qps", "client-side limit of API requests per second (default 500)", func(s string) error {
		var v float64
		_, err := fmt.Sscan(s, &v)
		o.QPS = float32(v)
		return err
	})
	fs.IntVar(&o.Burst, "kube-api-burst", 1000, "client-side burst of API requests")
}

func (o *Options) defaults() {
	if o.Namespace == "" {
		o.Namespace = "metallb-system"
	}
	if o.Workers <= 0 {
		o.Workers = 16
	}
	if o.QPS == 0 {
		o.QPS = 500
	}
	if o.Burst == 0 {
		o.Burst = 1000
	}
	if o.LeaseName == "" {
		o.LeaseName = "ironlb-controller"
	}
	if o.MetricsAddr == "" {
		o.MetricsAddr = "0"
	}
	if o.ProbeAddr == "" {
		o.ProbeAddr = "0"
	}
}

// Run runs the controller until ctx ends. With leader election on, it waits to be
// leader before allocating; its caches warm up meanwhile, so a takeover is quick.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	o.defaults()
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	cfg.UserAgent = "ironlb-controller"

	mo := ctrl.Options{
		Scheme:                        scheme.New(),
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress:        o.ProbeAddr,
		LeaderElection:                o.LeaderElect,
		LeaderElectionID:              o.LeaseName,
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: &o.RepeatedInProcess},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			// The metallb.io objects live in one namespace; Services anywhere.
			&metallbv1beta1.IPAddressPool{}:      {Namespaces: map[string]cache.Config{o.Namespace: {}}},
			&metallbv1beta1.ConfigurationState{}: {Namespaces: map[string]cache.Config{o.Namespace: {}}},
		}},
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Event{}}}},
	}
	lock, err := LeaderOptions(cfg, &mo, o.Namespace, o.LeaseName)
	if err != nil {
		return err
	}
	if lock != nil {
		o.Fence = lock
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	m, err := setup(mgr, o, metrics.Registry)
	if err != nil {
		return err
	}
	defer m.Unregister()
	if err := ironlbruntime.AddProbes(mgr); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// SetupWithRegistry registers the controller's loops on a manager with the
// metrics registered on reg (nil: not registered, for tests and benchmarks that
// run several controllers in one process). Run uses controller-runtime's registry.
func SetupWithRegistry(mgr ctrl.Manager, o Options, reg prometheus.Registerer) error {
	_, err := setup(mgr, o, reg)
	return err
}

func setup(mgr ctrl.Manager, o Options, reg prometheus.Registerer) (*allocation.Metrics, error) {
	o.defaults()
	state := allocation.NewState(o.Namespace, o.LBClass)
	m := allocation.NewMetrics(reg, state)
	rec := mgr.GetEventRecorderFor(EventSource) //nolint:staticcheck // kubectl describe shows these as MetalLB's did
	if err := (&allocation.ServiceReconciler{Client: mgr.GetClient(), Reader: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: rec, State: state, Metrics: m, Fence: o.Fence}).SetupWithManager(mgr, o.Workers); err != nil {
		return m, fmt.Errorf("setting up %s: %w", allocation.ServiceControllerName, err)
	}
	if err := (&allocation.PoolReconciler{Reader: mgr.GetClient(), Recorder: rec, State: state, Metrics: m}).SetupWithManager(mgr); err != nil {
		return m, fmt.Errorf("setting up %s: %w", allocation.PoolControllerName, err)
	}
	if err := (&allocation.PoolStatusReconciler{Client: mgr.GetClient(), State: state, Metrics: m, MinInterval: o.PoolStatusTick}).SetupWithManager(mgr); err != nil {
		return m, fmt.Errorf("setting up %s: %w", allocation.PoolStatusControllerName, err)
	}
	if err := (&allocation.ConfigStateReconciler{Client: mgr.GetClient(), State: state}).SetupWithManager(mgr); err != nil {
		return m, fmt.Errorf("setting up %s: %w", allocation.ConfigStateControllerName, err)
	}
	if err := mgr.Add(&speakersecret.Ensurer{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Namespace: o.Namespace}); err != nil {
		return m, fmt.Errorf("setting up the speakers' Secret: %w", err)
	}
	return m, nil
}
