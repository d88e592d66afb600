// Package speakerapp wires ironlb's speaker: the manager and its caches, the layer 2
// announcer, the liveness membership, probes and metrics. cmd/speaker parses flags
// into Options and calls Run; tests call Setup in-process against a real API server
// with a fake announcer.
package speakerapp

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	metallbv1beta2 "github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/l2"
	"github.com/ironlb/ironlb/internal/liveness"
	ironlbruntime "github.com/ironlb/ironlb/internal/runtime"
	"github.com/ironlb/ironlb/internal/scheme"
	"github.com/ironlb/ironlb/internal/speaker"
)

// Options configure the speaker.
type Options struct {
	NodeName            string
	Namespace           string
	LBClass             string
	IgnoreExcludeLB     bool
	LivenessBindAddress string
	LivenessPort        int
	LivenessSecret      string
	MetricsAddr         string
	ProbeAddr           string
	// ExcludeInterfaces are regexps of interfaces never used; nil means
	// l2.DefaultExcludedInterfaces, an empty non-nil slice excludes nothing.
	ExcludeInterfaces []string
	// ExcludeInterfacesFile is MetalLB's excludel2.yaml; used when ExcludeInterfaces
	// is nil and the file exists.
	ExcludeInterfacesFile string
	// Speaker holds the knobs tests turn (timings); flags do not set it.
	Speaker speaker.Options
}

// BindFlags registers the speaker's flags (--kubeconfig is controller-runtime's,
// --log-level is cmd/speaker's).
func (o *Options) BindFlags(fs *flag.FlagSet) {
	node := os.Getenv("METALLB_NODE_NAME")
	if node == "" {
		node = os.Getenv("NODE_NAME")
	}
	fs.StringVar(&o.NodeName, "node-name", node, "name of the Node this speaker runs on (default from $METALLB_NODE_NAME or $NODE_NAME)")
	fs.StringVar(&o.Namespace, "namespace", "metallb-system", "namespace holding the metallb.io configuration, the memberlist Secret and the speakers' status objects")
	fs.StringVar(&o.LBClass, "lb-class", "", "announce only Services with this spec.loadBalancerClass (default: Services with no class)")
	fs.BoolVar(&o.IgnoreExcludeLB, "ignore-exclude-lb", false, "announce from nodes labelled node.kubernetes.io/exclude-from-external-load-balancers too")
	fs.StringVar(&o.LivenessBindAddress, "liveness-bind-address", "", "IP the liveness UDP socket binds (default: this Node's InternalIP; peers reach it at the address published in the ironlb.io/liveness Node annotation)")
	fs.IntVar(&o.LivenessPort, "liveness-port", 7947, "UDP port of the liveness heartbeats, the same on every node")
	fs.StringVar(&o.LivenessSecret, "liveness-secret", "memberlist", "Secret in --namespace whose \"secretkey\" authenticates the liveness heartbeats")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":7472", "address serving Prometheus metrics; 0 disables")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":7473", "address serving /healthz and /readyz; 0 disables")
	fs.Func("exclude-interfaces", "comma-separated regexps of interfaces never announced on; replaces the default list (MetalLB's excludel2 defaults); empty excludes nothing", func(v string) error {
		o.ExcludeInterfaces = []string{}
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				o.ExcludeInterfaces = append(o.ExcludeInterfaces, p)
			}
		}
		if _, err := l2.NewExcluder(o.ExcludeInterfaces); err != nil {
			return err
		}
		return nil
	})
	fs.StringVar(&o.ExcludeInterfacesFile, "exclude-interfaces-file", l2.ExcludeL2Path,
		"MetalLB's excludel2.yaml (ConfigMap metallb-excludel2), read when --exclude-interfaces is not given and the file exists")
}

// exclusions returns the interface exclusion patterns: the flag, else MetalLB's
// excludel2.yaml when present, else nil (the defaults). A file that cannot be read
// or parsed is logged and the defaults are used: a speaker that refuses to start
// would take every layer-2 IP of the node down with it.
func (o *Options) exclusions(log logr.Logger) []string {
	if o.ExcludeInterfaces != nil || o.ExcludeInterfacesFile == "" {
		return o.ExcludeInterfaces
	}
	data, err := os.ReadFile(o.ExcludeInterfacesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err == nil {
		var patterns []string
		if patterns, err = l2.ParseExcludeL2(data); err == nil {
			log.Info("interface exclusions from file", "file", o.ExcludeInterfacesFile, "patterns", patterns)
			return patterns
		}
	}
	log.Error(err, "ignoring the interface exclusion file; using the default exclusions. Fix the ConfigMap metallb-excludel2", "file", o.ExcludeInterfacesFile)
	return nil
}

func (o *Options) defaults() {
	if o.Namespace == "" {
		o.Namespace = "metallb-system"
	}
	if o.LivenessPort == 0 {
		o.LivenessPort = 7947
	}
	if o.LivenessSecret == "" {
		o.LivenessSecret = "memberlist"
	}
	if o.MetricsAddr == "" {
		o.MetricsAddr = "0"
	}
	if o.ProbeAddr == "" {
		o.ProbeAddr = "0"
	}
}

func (o *Options) speakerOptions() speaker.Options {
	so := o.Speaker
	so.Node = o.NodeName
	so.Namespace = o.Namespace
	so.LBClass = o.LBClass
	so.IgnoreExcludeLB = o.IgnoreExcludeLB
	so.LivenessBindAddress = o.LivenessBindAddress
	so.LivenessPort = o.LivenessPort
	so.LivenessSecret = o.LivenessSecret
	return so
}

// ManagerOptions are the manager settings the speaker needs: caches for the
// objects it decides on (metallb.io ones only in the namespace), with
// managedFields dropped, and no caching of the objects it reads directly.
func ManagerOptions(o Options) ctrl.Options {
	o.defaults()
	ns := map[string]cache.Config{o.Namespace: {}}
	return ctrl.Options{
		Scheme:                 scheme.New(),
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.ProbeAddr,
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject: map[client.Object]cache.ByObject{
				&metallbv1beta1.IPAddressPool{}:   {Namespaces: ns},
				&metallbv1beta1.L2Advertisement{}: {Namespaces: ns},
				// BGP (internal/speaker/bgp.go)
				&metallbv1beta2.BGPPeer{}:          {Namespaces: ns},
				&metallbv1beta1.BGPAdvertisement{}: {Namespaces: ns},
				&metallbv1beta1.BFDProfile{}:       {Namespaces: ns},
				&metallbv1beta1.Community{}:        {Namespaces: ns},
			},
		},
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{
			&corev1.Event{}, &corev1.Secret{}, &metallbv1beta1.ServiceL2Status{}, &metallbv1beta1.ConfigurationState{},
			&metallbv1beta1.ServiceBGPStatus{},
		}}},
	}
}

// Deps lets tests replace the announcer and wrap the membership.
type Deps struct {
	Announcer     speaker.Announcer
	RunAnnouncer  func(context.Context) error
	NewMembership func(liveness.Config) (speaker.Membership, error)
	// Registry for the metrics; nil means not registered.
	Registry prometheus.Registerer
}

// Run runs the speaker until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	o.defaults()
	if o.NodeName == "" {
		return fmt.Errorf("no node name: pass --node-name or set METALLB_NODE_NAME")
	}
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "ironlb-speaker"
	mgr, err := ctrl.NewManager(cfg, ManagerOptions(o))
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	log := ctrl.Log.WithName("speaker")
	ann, err := l2.New(l2.Options{ExcludePatterns: o.exclusions(log), Logger: log.WithName("l2")})
	if err != nil {
		return fmt.Errorf("layer 2 announcer: %w", err)
	}
	if err := Setup(mgr, o, Deps{Announcer: ann, RunAnnouncer: ann.Run, Registry: metrics.Registry}); err != nil {
		return err
	}
	if err := ironlbruntime.AddProbes(mgr); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// Setup adds the speaker to a manager.
func Setup(mgr ctrl.Manager, o Options, d Deps) error {
	o.defaults()
	log := mgr.GetLogger().WithName("speaker").WithValues("node", o.NodeName)
	if d.Announcer == nil {
		return fmt.Errorf("speakerapp: no announcer")
	}
	sp, err := speaker.New(o.speakerOptions(), speaker.Deps{
		Cache:         mgr.GetCache(),
		Client:        mgr.GetClient(),
		APIReader:     mgr.GetAPIReader(),
		Recorder:      mgr.GetEventRecorderFor(speaker.EventSource), //nolint:staticcheck // kubectl describe shows these as MetalLB's did
		Announcer:     d.Announcer,
		RunAnnouncer:  d.RunAnnouncer,
		NewMembership: d.NewMembership,
		Metrics:       speaker.NewMetrics(d.Registry, d.Announcer),
		Log:           log,
	})
	if err != nil {
		return err
	}
	// Not ready until the liveness key is there and its socket is bound:
	// until then this node cannot announce (a failed bind is retried).
	if err := mgr.AddReadyzCheck("liveness", func(*http.Request) error { return sp.Ready() }); err != nil {
		return err
	}
	if err := mgr.Add(sp); err != nil {
		return err
	}
	_, err = speaker.SetupBGP(mgr, speaker.BGPOptions{Node: o.NodeName, Namespace: o.Namespace, LBClass: o.LBClass,
		IgnoreExcludeLB: o.IgnoreExcludeLB, Log: log.WithName("bgp"), Registry: d.Registry,
		Recorder: mgr.GetEventRecorderFor(speaker.EventSource)}) //nolint:staticcheck // as above
	return err
}
