package speaker

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	metallbv1beta2 "github.com/ironlb/ironlb/api/v1beta2"
	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/svcinfo"
)

// BGPOptions configure the BGP half of the speaker.
type BGPOptions struct {
	Node, Namespace, LBClass string
	IgnoreExcludeLB          bool
	Log                      logr.Logger
	Recorder                 record.EventRecorder
	// Registry for the BGP/BFD metrics (MetalLB's names); nil = none.
	Registry prometheus.Registerer
	// Resync re-reads everything periodically (password Secrets are read,
	// not watched). 0 = 30s.
	Resync time.Duration
}

// BGPReconciler converges this node's embedded GoBGP to the BGP objects:
// one level-based pass over everything on any change (one key), so there
// is no per-object state to get wrong. The engine starts with the first
// selected BGPPeer; a node with no BGPPeer opens no socket.
type BGPReconciler struct {
	opts   BGPOptions
	reader client.Reader // cache
	api    client.Reader // uncached (Secrets, ServiceBGPStatus)
	writer client.Client

	mu        sync.Mutex
	eng       *bgp.Engine
	routerID  netip.Addr
	lastGood  config.LastGood
	reported  map[string]bool   // problem messages already sent as events
	announced map[string]string // svc key -> sorted peers last reported
	collector prometheus.Collector
}

// SetupBGP adds the BGP reconciler to mgr.
func SetupBGP(mgr ctrl.Manager, o BGPOptions) (*BGPReconciler, error) {
	if o.Resync == 0 {
		o.Resync = 30 * time.Second
	}
	r := &BGPReconciler{opts: o, reader: mgr.GetClient(), api: mgr.GetAPIReader(), writer: mgr.GetClient(), reported: map[string]bool{}, announced: map[string]string{}}
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: "bgp"}}}
	})
	b := ctrl.NewControllerManagedBy(mgr).Named("bgp")
	for _, obj := range []client.Object{
		&metallbv1beta2.BGPPeer{}, &metallbv1beta1.BGPAdvertisement{}, &metallbv1beta1.BFDProfile{}, &metallbv1beta1.Community{},
		&metallbv1beta1.IPAddressPool{}, &corev1.Service{}, &discoveryv1.EndpointSlice{}, &corev1.Node{},
	} {
		b = b.Watches(obj, one)
	}
	if err := b.Complete(r); err != nil {
		return nil, err
	}
	if err := mgr.Add(closer{r}); err != nil {
		return nil, err
	}
	return r, nil
}

// closer stops the engine (a Cease to every peer) when the manager stops.
type closer struct{ r *BGPReconciler }

func (c closer) Start(ctx context.Context) error {
	<-ctx.Done()
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	if c.r.eng != nil {
		c.r.eng.Close()
		c.r.eng = nil
	}
	return nil
}

// Reconcile reads everything and converges the engine.
func (r *BGPReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (reconcile.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := client.InNamespace(r.opts.Namespace)
	var (
		peers   metallbv1beta2.BGPPeerList
		ads     metallbv1beta1.BGPAdvertisementList
		bfds    metallbv1beta1.BFDProfileList
		comms   metallbv1beta1.CommunityList
		pools   metallbv1beta1.IPAddressPoolList
		svcs    corev1.ServiceList
		slices_ discoveryv1.EndpointSliceList
	)
	for _, l := range []client.ObjectList{&peers, &ads, &bfds, &comms, &pools} {
		if err := r.reader.List(ctx, l, ns); err != nil {
			return reconcile.Result{}, err
		}
	}
	if err := r.reader.List(ctx, &svcs); err != nil {
		return reconcile.Result{}, err
	}
	if err := r.reader.List(ctx, &slices_); err != nil {
		return reconcile.Result{}, err
	}
	secrets := map[string]*corev1.Secret{}
	for i := range peers.Items {
		name := peers.Items[i].Spec.PasswordSecret.Name
		if name == "" || secrets[name] != nil {
			continue
		}
		var s corev1.Secret
		if err := r.api.Get(ctx, types.NamespacedName{Namespace: r.opts.Namespace, Name: name}, &s); err == nil {
			secrets[name] = &s
		}
	}
	pr, next := config.BuildPools(pools.Items, r.lastGood)
	r.lastGood = next
	cfg := config.BuildBGP(config.BGPObjects{Peers: peers.Items, Ads: ads.Items, BFDProfiles: bfds.Items, Communities: comms.Items, Secrets: secrets}, pr.Pools)

	var self *Node
	var node corev1.Node
	defaultID := netip.Addr{}
	if err := r.reader.Get(ctx, types.NamespacedName{Name: r.opts.Node}, &node); err == nil {
		n := NodeFrom(&node)
		self = &n
		if ip, ok := InternalIP(&node); ok && ip.Is4() {
			defaultID = ip
		}
	}
	if !defaultID.IsValid() {
		defaultID = hashRouterID(r.opts.Node)
	}
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for i := range slices_.Items {
		es := &slices_.Items[i]
		if name := es.Labels[discoveryv1.LabelServiceName]; name != "" {
			bySvc[es.Namespace+"/"+name] = append(bySvc[es.Namespace+"/"+name], es)
		}
	}
	var in []Service
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if svcinfo.IsOurs(svc, r.opts.LBClass) {
			in = append(in, ServiceFrom(svc, bySvc[svcinfo.Key(svc)]))
		}
	}
	d := DecideBGP(BGPInput{Self: self, DefaultRouterID: defaultID, Config: &cfg, Pools: pr.Pools, Services: in, IgnoreExcludeLB: r.opts.IgnoreExcludeLB})

	var problems []bgpProblem
	for _, p := range cfg.Problems {
		problems = append(problems, bgpProblem{kind: p.Kind, name: p.Object, msg: p.String()})
	}
	for _, u := range cfg.Unsupported {
		problems = append(problems, bgpProblem{kind: u.Kind, name: u.Object, msg: u.String()})
	}
	for _, m := range d.Problems {
		problems = append(problems, bgpProblem{msg: m})
	}

	if len(d.Desired.Peers) > 0 && (r.eng == nil || r.routerID != d.RouterID) {
		// A router ID change needs a new server: every session restarts,
		// which is what a router ID change means in BGP anyway.
		if r.eng != nil {
			r.eng.Close()
			r.eng = nil
		}
		eng, err := bgp.New(ctx, bgp.Options{RouterID: d.RouterID, Logger: nil})
		if err != nil {
			return reconcile.Result{}, fmt.Errorf("starting the BGP engine: %w", err)
		}
		r.eng, r.routerID = eng, d.RouterID
		if r.opts.Registry != nil {
			if r.collector != nil {
				r.opts.Registry.Unregister(r.collector)
			}
			r.collector = eng.Collector()
			_ = r.opts.Registry.Register(r.collector)
		}
	}
	if r.eng != nil {
		refused, err := r.eng.Apply(ctx, d.Desired)
		for _, pe := range refused {
			name := d.PeerNames[pe.Peer.Key()]
			problems = append(problems, bgpProblem{kind: config.KindBGPPeer, name: name, msg: fmt.Sprintf("BGPPeer %q: %v", name, pe.Err)})
		}
		if err != nil {
			r.opts.Log.Error(err, "applying BGP state")
		}
	}
	r.report(problems, d)
	// Status last: nothing between the decision and the engine waits on
	// the API server.
	if r.eng != nil || len(d.Desired.Peers) == 0 {
		if err := r.syncBGPStatus(ctx, d.Services); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{RequeueAfter: r.opts.Resync}, nil
}

// report logs and emits each problem once (as a Warning event on the
// object it names), and a Normal nodeAssigned event only when the set of
// peers carrying a Service from this node changes.
func (r *BGPReconciler) report(problems []bgpProblem, d BGPDecision) {
	now := map[string]bool{}
	for _, p := range problems {
		now[p.msg] = true
		if r.reported[p.msg] {
			continue
		}
		r.opts.Log.Info("BGP configuration problem", "problem", p.msg)
		if obj := r.problemObject(p); obj != nil && r.opts.Recorder != nil {
			r.opts.Recorder.Eventf(obj, corev1.EventTypeWarning, EventConfigError, "speaker on node %q: %s", r.opts.Node, p.msg)
		}
	}
	r.reported = now
	seen := map[string]bool{}
	for _, s := range d.Services {
		key := s.Namespace + "/" + s.Name
		seen[key] = true
		peers := strings.Join(s.Peers, ",")
		if r.announced[key] == peers {
			continue
		}
		r.announced[key] = peers
		if r.opts.Recorder != nil && len(s.Peers) > 0 {
			svc := &corev1.Service{}
			svc.Namespace, svc.Name = s.Namespace, s.Name
			r.opts.Recorder.Eventf(svc, corev1.EventTypeNormal, EventNodeAssigned, "announcing from node %q with protocol %q", r.opts.Node, "bgp")
		}
	}
	for k := range r.announced {
		if !seen[k] {
			delete(r.announced, k)
		}
	}
}

// Sessions reports the engine's sessions (nil before the first peer).
func (r *BGPReconciler) Sessions(ctx context.Context) []bgp.SessionState {
	r.mu.Lock()
	eng := r.eng
	r.mu.Unlock()
	if eng == nil {
		return nil
	}
	s, _ := eng.Sessions(ctx)
	return s
}

// hashRouterID is MetalLB's last resort: an ID derived from the node name.
func hashRouterID(node string) netip.Addr {
	var h uint32 = 2166136261
	for i := 0; i < len(node); i++ {
		h ^= uint32(node[i])
		h *= 16777619
	}
	return netip.AddrFrom4([4]byte{byte(h >> 24), byte(h >> 16), byte(h >> 8), byte(h)})
}

// bgpProblem is a problem and the object it is about (kind "" = the node).
type bgpProblem struct{ kind, name, msg string }

// problemObject is the object a Warning event about p goes on.
func (r *BGPReconciler) problemObject(p bgpProblem) client.Object {
	var obj client.Object
	switch p.kind {
	case config.KindBGPPeer:
		obj = &metallbv1beta2.BGPPeer{}
	case config.KindBGPAdvertisement:
		obj = &metallbv1beta1.BGPAdvertisement{}
	case config.KindBFDProfile:
		obj = &metallbv1beta1.BFDProfile{}
	case config.KindCommunity:
		obj = &metallbv1beta1.Community{}
	default:
		return nil
	}
	obj.SetNamespace(r.opts.Namespace)
	obj.SetName(p.name)
	return obj
}
