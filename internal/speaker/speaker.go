package speaker

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/l2"
	"github.com/ironlb/ironlb/internal/liveness"
	"github.com/ironlb/ironlb/internal/rendezvous"
	"github.com/ironlb/ironlb/internal/svcinfo"
)

// Announcer is what the speaker needs of internal/l2's Announcer (tests fake it).
type Announcer interface {
	SetIPs(map[netip.Addr][]string)
	Interfaces() []string
	InterfaceEvents() <-chan l2.InterfaceEvent
	Stats() map[netip.Addr]l2.Counters
}

// Membership is what the speaker needs of internal/liveness's Member.
type Membership interface {
	SetPeers(map[string]netip.AddrPort)
	Run(ctx context.Context) error
	Leave()
	Snapshot() liveness.View
	Changes() <-chan struct{}
	Stats() liveness.Stats
}

// deadliner is implemented by internal/l2's Announcer: it stops answering on
// its own at the deadline liveness gives (see liveness.Config.QuorumDeadline).
type deadliner interface{ SetDeadline(time.Time) }

// keyedMembership is implemented by liveness.Member: the key can change
// while it runs, and it can say why it is not working yet.
type keyedMembership interface {
	SetKey([]byte) error
	Ready() error
}

// SecretKey is the key of the liveness Secret holding the shared secret (MetalLB's
// memberlist Secret layout).
const SecretKey = "secretkey"

// Options configure a Speaker.
type Options struct {
	Node            string
	Namespace       string
	LBClass         string
	IgnoreExcludeLB bool
	// LivenessBindAddress is the IP the liveness socket binds; "" means the
	// Node's InternalIP. Peers reach it at the address published in
	// LivenessAnnotation (the InternalIP when bound to a wildcard).
	LivenessBindAddress string
	LivenessPort        int
	// LivenessSecret is the Secret (key "secretkey") holding the shared key.
	LivenessSecret string
	// Liveness timing; zero means the liveness package defaults.
	Interval, StopAfter, DeadAfter time.Duration
	// NoTieBreaker disables the Lease tie breaker of two-node clusters.
	NoTieBreaker bool
	// Debounce groups Kubernetes changes before recomputing (default 10ms).
	Debounce time.Duration
	// SecretPoll is how often the liveness Secret is read again, so that a
	// rotated or recreated key is picked up (default 2s). It must be well
	// under the liveness KeySwitchAfter (10s).
	SecretPoll time.Duration
	// SettleAfter: if liveness has not reached quorum this long after it
	// started, the status writer treats "announce nothing" as real and
	// deletes this node's ServiceL2Status objects (default 10s).
	SettleAfter time.Duration
	// MembershipStep: at least this long between two changes of the
	// liveness member set (default 1s; see stepPeers).
	MembershipStep time.Duration
	// EvictAfter: a member liveness has declared down this long is evicted
	// from the member set (its LivenessAnnotation set to ""), so the others
	// count their majority without it (default 1s).
	EvictAfter time.Duration
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
	if o.Debounce <= 0 {
		o.Debounce = 10 * time.Millisecond
	}
	if o.SecretPoll <= 0 {
		o.SecretPoll = 2 * time.Second
	}
	if o.SettleAfter <= 0 {
		o.SettleAfter = 10 * time.Second
	}
	if o.MembershipStep <= 0 {
		o.MembershipStep = time.Second
	}
	if o.EvictAfter <= 0 {
		o.EvictAfter = time.Second
	}
}

// Deps are the speaker's collaborators.
type Deps struct {
	Cache     cache.Cache   // informers and cached reads
	Client    client.Client // writes (and cached reads)
	APIReader client.Reader // uncached reads (Secret, Lease, ServiceL2Status)
	Recorder  record.EventRecorder
	Announcer Announcer
	// RunAnnouncer, if set, runs the announcer; its context ends after the
	// speaker has stopped announcing.
	RunAnnouncer func(ctx context.Context) error
	// NewMembership defaults to liveness.New.
	NewMembership func(liveness.Config) (Membership, error)
	Metrics       *Metrics
	Log           logr.Logger
}

// Speaker announces, in layer 2, the Service IPs this node owns. It is a
// controller-runtime Runnable.
type Speaker struct {
	opts      Options
	cache     cache.Cache
	reader    client.Reader
	client    client.Client
	apiReader client.Reader
	recorder  record.EventRecorder
	ann       Announcer
	runAnn    func(context.Context) error
	newMem    func(liveness.Config) (Membership, error)
	metrics   *Metrics
	log       logr.Logger

	kick     chan struct{}
	pubKick  chan struct{}
	status   *statusWriter
	elect    *rendezvous.Cache
	memReady chan readyMember
	ready    atomic.Value // readyState: what Ready reports
	members  *membership

	// owned by the loop goroutine
	mem        Membership
	memStarted time.Time
	plan       *Plan
	// prevPlan is the plan before the latest rebuild, kept for planGainHold:
	// IPs that only the new plan gives this node wait that long (see
	// holdPlanGains). rebuilt is false until the first real rebuild.
	prevPlan  *Plan
	rebuiltAt time.Time
	rebuilt   bool
	gainHold  *time.Timer
	owned     map[netip.Addr][]string
	live      []string
	liveKnown bool
	peers     map[string]netip.AddrPort // applied to liveness; nil before the first
	wantPeers map[string]netip.AddrPort // from LivenessAnnotation
	peersAt   time.Time
	downSince map[string]time.Time
	adErrors  map[string]string
	lastGood  config.LastGood // last valid spec per pool, as the controller keeps it
	reasons   map[string]string
	lastView  liveness.View

	// owned by publishInterfaces
	published   string
	publishedAt time.Time
}

// New returns a Speaker.
func New(o Options, d Deps) (*Speaker, error) {
	o.defaults()
	if o.Node == "" {
		return nil, errors.New("speaker: node name is required")
	}
	if d.Cache == nil || d.Client == nil || d.APIReader == nil || d.Recorder == nil || d.Announcer == nil {
		return nil, errors.New("speaker: Cache, Client, APIReader, Recorder and Announcer are required")
	}
	s := &Speaker{
		opts: o, cache: d.Cache, reader: d.Cache, client: d.Client, apiReader: d.APIReader,
		recorder: d.Recorder, ann: d.Announcer, runAnn: d.RunAnnouncer, newMem: d.NewMembership,
		metrics: d.Metrics, log: d.Log,
		kick: make(chan struct{}, 1), pubKick: make(chan struct{}, 1), memReady: make(chan readyMember, 1),
		members: &membership{kick: make(chan struct{}, 1)}, downSince: map[string]time.Time{},
		elect: rendezvous.NewCache(), owned: map[netip.Addr][]string{},
		adErrors: map[string]string{}, reasons: map[string]string{},
	}
	if s.newMem == nil {
		s.newMem = func(c liveness.Config) (Membership, error) { return liveness.New(c) }
	}
	s.status = newStatusWriter(s)
	s.plan = NewPlan(&Config{Self: o.Node})
	return s, nil
}

// NeedLeaderElection: every node runs its speaker.
func (s *Speaker) NeedLeaderElection() bool { return false }

func poke(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// watch kicks a recompute on any change of the objects the decision reads.
func (s *Speaker) watch(ctx context.Context) error {
	h := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke(s.kick) },
		UpdateFunc: func(any, any) { poke(s.kick) },
		DeleteFunc: func(any) { poke(s.kick) },
	}
	for _, obj := range []client.Object{&corev1.Service{}, &discoveryv1.EndpointSlice{}, &corev1.Node{}, &metallbv1beta1.IPAddressPool{}, &metallbv1beta1.L2Advertisement{}} {
		inf, err := s.cache.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("watching %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(h); err != nil {
			return fmt.Errorf("watching %T: %w", obj, err)
		}
	}
	return nil
}

type readyState struct {
	mem Membership
	why string
}

// Ready is the speaker's readiness: false until the liveness key is there
// and the liveness socket is bound (the member retries a failed bind; until
// it succeeds this node cannot announce, and the probe says so).
func (s *Speaker) Ready() error {
	st, _ := s.ready.Load().(readyState)
	if st.mem == nil {
		if st.why == "" {
			st.why = "liveness not started"
		}
		return errors.New(st.why)
	}
	if k, ok := st.mem.(keyedMembership); ok {
		return k.Ready()
	}
	return nil
}

// Start runs the speaker until ctx ends, then stops announcing, leaves the
// membership and deletes this node's ServiceL2Status objects.
func (s *Speaker) Start(ctx context.Context) error {
	if d, ok := s.ann.(deadliner); ok {
		// Nothing is answered until liveness says until when it may be.
		d.SetDeadline(time.Time{})
	}
	annCtx, annCancel := context.WithCancel(context.Background())
	var annWG sync.WaitGroup
	defer func() {
		annCancel()
		annWG.Wait()
	}()
	annDone := make(chan error, 1)
	if s.runAnn != nil {
		annWG.Go(func() {
			err := s.runAnn(annCtx)
			if annCtx.Err() == nil {
				if err == nil {
					err = errors.New("layer 2 announcer stopped")
				}
				annDone <- err
			}
		})
	}
	if err := s.watch(ctx); err != nil {
		return err
	}
	if !s.cache.WaitForCacheSync(ctx) {
		return nil
	}
	bg, bgCancel := context.WithCancel(context.Background())
	var bgWG sync.WaitGroup
	bgWG.Go(func() { s.status.run(bg) })
	bgWG.Go(func() { s.publishInterfaces(bg) })
	bgWG.Go(func() { s.writeMembership(bg) })
	memCtx, memCancel := context.WithCancel(context.Background())
	var memWG sync.WaitGroup
	awaitCtx, awaitCancel := context.WithCancel(ctx)
	memWG.Go(func() { s.awaitMembership(awaitCtx) })

	runErr := s.loop(ctx, memCtx, &memWG, annDone)

	// Graceful stop: stop answering at once, tell the peers, then tidy up the API.
	awaitCancel()
	s.ann.SetIPs(nil)
	s.owned = map[netip.Addr][]string{}
	s.metrics.setAnnounced(s.opts.Node, &Result{})
	if s.mem != nil {
		s.mem.Leave()
	}
	s.log.Info("stopped announcing; left the membership")
	bgCancel()
	bgWG.Wait()
	if s.mem != nil {
		// Out of the member set: the others shrink their majority once they
		// have us down (the goodbye did that already).
		pctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.patchMember(pctx, s.opts.Node, "", ""); err != nil {
			s.log.Error(err, "clearing this node's liveness membership", "annotation", LivenessAnnotation)
		}
		cancel()
	}
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := s.status.deleteAll(dctx); err != nil {
		s.log.Error(err, "deleting this node's ServiceL2Status objects")
	}
	cancel()
	memCancel()
	memWG.Wait()
	return runErr
}

// loop runs until ctx ends (nil) or the announcer stops (its error).
func (s *Speaker) loop(ctx, memCtx context.Context, memWG *sync.WaitGroup, annDone <-chan error) error {
	var changes <-chan struct{}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	pending := false
	var lastRebuild time.Duration
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	s.gainHold = time.NewTimer(time.Hour)
	s.gainHold.Stop()
	defer s.gainHold.Stop()
	s.refreshInterfaces()
	s.rebuild()
	s.decide(time.Time{})
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-annDone:
			s.log.Error(err, "the layer 2 announcer stopped; stopping the speaker")
			return err
		case r := <-s.memReady:
			m := r.m
			s.mem, s.memStarted = m, time.Now()
			s.metrics.setMembership(m)
			s.peers, _, _ = stepPeers(nil, s.wantPeers, nil)
			s.peersAt = s.memStarted
			m.SetPeers(s.peers)
			s.members.setSelf(r.addr)
			memWG.Go(func() {
				if err := m.Run(memCtx); err != nil {
					s.log.Error(err, "liveness stopped")
				}
				s.members.setSelf("") // not a member any more
			})
			changes = m.Changes()
			s.decide(time.Time{})
		case <-changes:
			s.decide(time.Now())
			s.syncPeers(time.Now())
		case ev := <-s.ann.InterfaceEvents():
			s.log.Info("interface changed", "interface", ev.Interface, "up", ev.Up, "reason", ev.Reason, "stranded", ev.Stranded)
			if s.refreshInterfaces() {
				s.rebuild()
				s.decide(time.Now())
			}
		case <-tick.C:
			if s.refreshInterfaces() {
				s.rebuild()
			}
			s.decide(time.Time{}) // also settles the status writer
			s.syncPeers(time.Now())
		case <-s.kick:
			if !pending {
				pending = true
				// Under heavy churn, rebuild at most half the time.
				debounce.Reset(max(s.opts.Debounce, lastRebuild))
			}
		case <-s.gainHold.C:
			s.decide(time.Time{}) // the held gains of the latest rebuild
		case <-debounce.C:
			pending = false
			t := time.Now()
			s.rebuild()
			lastRebuild = time.Since(t)
			s.decide(time.Time{})
		}
	}
}

// refreshInterfaces reads the announcer's eligible interfaces; true if they changed.
func (s *Speaker) refreshInterfaces() bool {
	live := slices.Clone(s.ann.Interfaces())
	sort.Strings(live)
	if s.liveKnown && slices.Equal(live, s.live) {
		return false
	}
	s.live, s.liveKnown = live, true
	poke(s.pubKick)
	return true
}

// rebuild reads the caches into a new Plan, updates the liveness peers and
// reports configuration problems.
func (s *Speaker) rebuild() {
	ctx := context.Background()
	cfg, problems, err := s.readConfig(ctx)
	if err != nil {
		// Keep the last plan: a cache read failing must not stop announcements.
		s.log.Error(err, "reading the cluster state from the cache; keeping the previous decision")
		return
	}
	if s.rebuilt {
		s.prevPlan, s.rebuiltAt = s.plan, time.Now()
		if s.gainHold != nil {
			s.gainHold.Reset(planGainHold)
		}
	}
	s.plan, s.rebuilt = NewPlan(cfg), true
	s.status.setProblems(problems)
	s.metrics.configLoaded(len(problems) > 0)
}

func (s *Speaker) readConfig(ctx context.Context) (*Config, []problem, error) {
	noCopy := client.UnsafeDisableDeepCopy
	cfg := &Config{Self: s.opts.Node, IgnoreExcludeLB: s.opts.IgnoreExcludeLB}
	var problems []problem

	// Pools and advertisements mean what internal/config says, exactly as in
	// the controller: the oldest of two overlapping pools wins, and a pool
	// edited into a bad state keeps its last good spec.
	var pools metallbv1beta1.IPAddressPoolList
	if err := s.reader.List(ctx, &pools, client.InNamespace(s.opts.Namespace), noCopy); err != nil {
		return nil, nil, err
	}
	var ads metallbv1beta1.L2AdvertisementList
	if err := s.reader.List(ctx, &ads, client.InNamespace(s.opts.Namespace), noCopy); err != nil {
		return nil, nil, err
	}
	conf, lastGood := config.Build(config.Objects{Pools: pools.Items, L2Ads: ads.Items}, s.lastGood)
	s.lastGood = lastGood
	cfg.Pools, cfg.Ads = conf.Pools, conf.L2Ads
	bad := map[string]string{}
	for _, p := range conf.Problems {
		problems = append(problems, problem{p.Kind, p.Object, p.Message})
		if p.Kind == config.KindL2Advertisement {
			bad[p.Object] = p.Message
		}
	}
	for i := range ads.Items {
		obj := &ads.Items[i]
		msg, isBad := bad[obj.Name]
		if !isBad {
			delete(s.adErrors, obj.Name)
			continue
		}
		if s.adErrors[obj.Name] != msg {
			s.adErrors[obj.Name] = msg
			s.log.Error(errors.New(msg), "ignoring invalid L2Advertisement; the others still apply", "l2advertisement", obj.Name)
			s.recorder.Eventf(obj.DeepCopy(), corev1.EventTypeWarning, EventConfigError, "speaker on node %q ignores L2Advertisement %q: %s", s.opts.Node, obj.Name, msg)
		}
	}
	for n := range s.adErrors {
		if _, ok := bad[n]; !ok {
			delete(s.adErrors, n)
		}
	}

	var nodes corev1.NodeList
	if err := s.reader.List(ctx, &nodes, noCopy); err != nil {
		return nil, nil, err
	}
	peers := map[string]netip.AddrPort{}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		if ap, ok := Member(n, s.opts.LivenessPort); ok && n.Name != s.opts.Node {
			peers[n.Name] = ap
		}
		node := NodeFrom(n)
		if n.Name == s.opts.Node {
			// Our own interfaces: what the announcer sees now, and only those
			// the other speakers know about (a new one counts once they see it;
			// a lost one stops counting at once).
			if s.annotationStale(n) {
				poke(s.pubKick)
			}
			poke(s.members.kick) // our liveness annotation may have been evicted

			own := s.live
			if node.InterfacesKnown {
				own = intersect(node.Interfaces, s.live)
			}
			node.Interfaces, node.InterfacesKnown = own, true
		}
		cfg.Nodes = append(cfg.Nodes, node)
	}
	s.wantPeers = peers
	s.syncPeers(time.Now())

	var svcs corev1.ServiceList
	if err := s.reader.List(ctx, &svcs, noCopy); err != nil {
		return nil, nil, err
	}
	var slicesList discoveryv1.EndpointSliceList
	if err := s.reader.List(ctx, &slicesList, noCopy); err != nil {
		return nil, nil, err
	}
	bySvc := map[string][]*discoveryv1.EndpointSlice{}
	for i := range slicesList.Items {
		es := &slicesList.Items[i]
		name := es.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		k := es.Namespace + "/" + name
		bySvc[k] = append(bySvc[k], es)
	}
	for i := range svcs.Items {
		svc := &svcs.Items[i]
		if !svcinfo.IsOurs(svc, s.opts.LBClass) {
			continue
		}
		cfg.Services = append(cfg.Services, ServiceFrom(svc, bySvc[svcinfo.Key(svc)]))
	}
	return cfg, problems, nil
}

func (s *Speaker) annotationStale(n *corev1.Node) bool {
	if !s.liveKnown {
		return false
	}
	v, ok := n.Annotations[InterfacesAnnotation]
	return !ok || v != FormatInterfaces(s.live)
}

func intersect(a, b []string) []string {
	out := []string{}
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func mapsEqualAddr(a, b map[string]netip.AddrPort) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// decide is the fast path: liveness view -> owners -> SetIPs. No API calls;
// the status writer gets the result afterwards. t0 is when the liveness change
// was noticed (zero when the decision is not liveness-driven).
func (s *Speaker) decide(t0 time.Time) {
	var view liveness.View
	if s.mem != nil {
		view = s.mem.Snapshot()
	}
	electable := s.electable(view.Alive)
	res := s.plan.Decide(electable, view.InQuorum, s.elect)
	if s.prevPlan != nil {
		if time.Since(s.rebuiltAt) < planGainHold {
			prev := s.prevPlan.Decide(electable, view.InQuorum, s.elect)
			res.Owned = holdPlanGains(res.Owned, s.owned, prev.Owned)
		} else {
			s.prevPlan = nil
		}
	}
	if !ownedEqual(res.Owned, s.owned) {
		gained := false
		for ip := range res.Owned {
			if _, ok := s.owned[ip]; !ok {
				gained = true
				break
			}
		}
		s.ann.SetIPs(res.Owned)
		if gained && !t0.IsZero() {
			s.metrics.observeTakeover(time.Since(t0).Seconds())
		}
		s.logOwned(res.Owned)
		s.owned = res.Owned
	}
	if view.InQuorum != s.lastView.InQuorum || !slices.Equal(view.Alive, s.lastView.Alive) {
		s.log.Info("liveness view", "inQuorum", view.InQuorum, "alive", view.Alive, "expected", view.Expected)
	}
	s.lastView = view
	if s.mem != nil {
		s.trackDown(time.Now(), view.InQuorum, view.Alive)
	}
	settled := s.mem != nil && (view.InQuorum || time.Since(s.memStarted) > s.opts.SettleAfter)
	s.metrics.setAnnounced(s.opts.Node, &res)
	s.status.update(s.opts.Node, &res, view.Alive, settled)
	s.logReasons(&res)
}

func (s *Speaker) logOwned(next map[netip.Addr][]string) {
	for ip, ifs := range next {
		if _, ok := s.owned[ip]; !ok {
			s.log.Info("taking IP", "ip", ip.String(), "interfaces", ifs)
		}
	}
	for ip := range s.owned {
		if _, ok := next[ip]; !ok {
			s.log.Info("releasing IP", "ip", ip.String())
		}
	}
}

// logReasons logs, at debug level, why each Service is not announced here when
// that changes.
func (s *Speaker) logReasons(res *Result) {
	seen := make(map[string]bool, len(res.Services))
	for i := range res.Services {
		r := &res.Services[i]
		k := r.Key()
		seen[k] = true
		if s.reasons[k] == r.Reason {
			continue
		}
		s.reasons[k] = r.Reason
		if r.Reason != "" {
			s.log.V(1).Info("not announcing", "service", k, "reason", r.Reason, "announcingNode", r.Node)
		}
	}
	for k := range s.reasons {
		if !seen[k] {
			delete(s.reasons, k)
		}
	}
}

// awaitMembership waits for the liveness Secret and the bind address, then
// hands a new Membership to the loop.
func (s *Speaker) awaitMembership(ctx context.Context) {
	s.ready.Store(readyState{why: "waiting for the liveness Secret " + s.opts.Namespace + "/" + s.opts.LivenessSecret})
	key := s.waitSecret(ctx)
	if key == nil {
		return
	}
	s.ready.Store(readyState{why: "waiting for this Node's InternalIP to bind the liveness socket"})
	host := s.opts.LivenessBindAddress
	for host == "" {
		var n corev1.Node
		if err := s.reader.Get(ctx, types.NamespacedName{Name: s.opts.Node}, &n); err == nil {
			if ip, ok := InternalIP(&n); ok {
				host = ip.String()
				break
			}
		}
		s.log.Info("waiting for this Node's InternalIP to bind the liveness socket (or pass --liveness-bind-address)", "node", s.opts.Node)
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
	cfg := liveness.Config{
		Self:      s.opts.Node,
		Key:       key,
		Listen:    net.JoinHostPort(host, strconv.Itoa(s.opts.LivenessPort)),
		Interval:  s.opts.Interval,
		StopAfter: s.opts.StopAfter,
		DeadAfter: s.opts.DeadAfter,
		Logger:    slog.New(logr.ToSlogHandler(s.log.WithName("liveness"))),
	}
	if d, ok := s.ann.(deadliner); ok {
		cfg.QuorumDeadline = d.SetDeadline
	}
	if !s.opts.NoTieBreaker {
		stop := s.opts.StopAfter
		if stop <= 0 {
			stop = liveness.DefaultStopAfter
		}
		tb := &LeaseTieBreaker{Client: s.client, Reader: s.apiReader, Namespace: s.opts.Namespace, Identity: s.opts.Node, Duration: max(time.Second, 3*stop)}
		cfg.TieBreaker = tb.TryHold
	}
	m, err := s.newMem(cfg)
	if err != nil {
		s.ready.Store(readyState{why: "cannot start liveness: " + err.Error()})
		s.log.Error(err, "cannot start liveness; this speaker will never announce")
		return
	}
	addr := s.publishedAddr(ctx, host)
	if addr == "" {
		return
	}
	s.log.Info("liveness starting", "listen", cfg.Listen, "published", addr)
	select {
	case s.memReady <- readyMember{m: m, addr: addr}:
	case <-ctx.Done():
		return
	}
	s.ready.Store(readyState{mem: m})
	s.watchSecret(ctx, m, key)
}

// watchSecret reads the liveness Secret every SecretPoll and gives a changed
// key to the member, which accepts it at once and signs with it a little
// later (liveness.Config.KeySwitchAfter), so that a rotation never splits
// the speakers. A Secret that disappears leaves the key as it is.
func (s *Speaker) watchSecret(ctx context.Context, m Membership, key []byte) {
	km, ok := m.(keyedMembership)
	if !ok {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.SecretPoll):
		}
		var sec corev1.Secret
		if err := s.apiReader.Get(ctx, types.NamespacedName{Namespace: s.opts.Namespace, Name: s.opts.LivenessSecret}, &sec); err != nil {
			if ctx.Err() == nil {
				s.log.V(1).Info("reading the liveness Secret again failed; keeping the current key", "err", err.Error())
			}
			continue
		}
		raw := sec.Data[SecretKey]
		if len(raw) == 0 {
			continue
		}
		next := DeriveKey(raw)
		if slices.Equal(next, key) {
			continue
		}
		if err := km.SetKey(next); err != nil {
			s.log.Error(err, "cannot use the new liveness key")
			continue
		}
		key = next
		s.log.Info("the liveness key changed; accepting it now, signing with it shortly", "secret", s.opts.Namespace+"/"+s.opts.LivenessSecret)
	}
}

// waitSecret returns the liveness key derived from the Secret, waiting for it.
func (s *Speaker) waitSecret(ctx context.Context) []byte {
	var lastLog time.Time
	for {
		var sec corev1.Secret
		err := s.apiReader.Get(ctx, types.NamespacedName{Namespace: s.opts.Namespace, Name: s.opts.LivenessSecret}, &sec)
		var msg string
		switch {
		case err == nil && len(sec.Data[SecretKey]) > 0:
			if len(sec.Data[SecretKey]) < 16 {
				s.log.Info("the liveness secret is short; use at least 16 random bytes", "secret", s.opts.Namespace+"/"+s.opts.LivenessSecret)
			}
			return DeriveKey(sec.Data[SecretKey])
		case err == nil:
			msg = fmt.Sprintf("Secret %s/%s has no %q key", s.opts.Namespace, s.opts.LivenessSecret, SecretKey)
		case apierrors.IsNotFound(err):
			msg = fmt.Sprintf("Secret %s/%s (key %q) does not exist yet; the controller creates it", s.opts.Namespace, s.opts.LivenessSecret, SecretKey)
		default:
			msg = fmt.Sprintf("cannot read Secret %s/%s: %v", s.opts.Namespace, s.opts.LivenessSecret, err)
		}
		if time.Since(lastLog) > 30*time.Second {
			s.log.Info("waiting for the liveness key; not announcing until it is there: " + msg)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

// DeriveKey turns the Secret's bytes into the liveness HMAC key.
func DeriveKey(secret []byte) []byte {
	h := sha256.New()
	h.Write([]byte("ironlb-liveness-v1\x00"))
	h.Write(secret)
	return h.Sum(nil)
}

// publishInterfaces keeps InterfacesAnnotation on our Node equal to the
// announcer's eligible interfaces.
func (s *Speaker) publishInterfaces(ctx context.Context) {
	// Give the announcer's first scan a moment, so a restart does not
	// briefly publish "no interfaces".
	deadline := time.Now().Add(2 * time.Second)
	for len(s.ann.Interfaces()) == 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	retry := time.NewTimer(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.pubKick:
		case <-retry.C:
		}
		if err := s.publishOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Error(err, "publishing this node's interfaces", "annotation", InterfacesAnnotation)
			retry.Reset(2 * time.Second)
		}
	}
}

func (s *Speaker) publishOnce(ctx context.Context) error {
	live := slices.Clone(s.ann.Interfaces())
	want := FormatInterfaces(live)
	var n corev1.Node
	if err := s.reader.Get(ctx, types.NamespacedName{Name: s.opts.Node}, &n); err != nil {
		return err
	}
	if v, ok := n.Annotations[InterfacesAnnotation]; ok && v == want {
		return nil
	}
	// The cache may not show our last patch yet: do not send it twice.
	if s.published == want && time.Since(s.publishedAt) < 5*time.Second {
		return nil
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, InterfacesAnnotation, want)
	if err := s.client.Patch(ctx, &corev1.Node{ObjectMeta: n.ObjectMeta}, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return err
	}
	s.published, s.publishedAt = want, time.Now()
	s.log.Info("published interfaces", "annotation", InterfacesAnnotation, "value", want)
	return nil
}

// readyMember is a new Membership and the address to publish for it.
type readyMember struct {
	m    Membership
	addr string
}

// publishedAddr is where peers reach a socket bound to host: host itself, or
// this Node's InternalIP for a wildcard. "" if ctx ends first.
func (s *Speaker) publishedAddr(ctx context.Context, host string) string {
	for {
		ip, err := netip.ParseAddr(host)
		if err == nil && !ip.IsUnspecified() {
			return netip.AddrPortFrom(ip.Unmap(), uint16(s.opts.LivenessPort)).String()
		}
		var n corev1.Node
		if err := s.reader.Get(ctx, types.NamespacedName{Name: s.opts.Node}, &n); err == nil {
			if ip, ok := InternalIP(&n); ok {
				host = ip.String()
				continue
			}
		}
		s.log.Info("waiting for this Node's InternalIP to publish the liveness address (or pass --liveness-bind-address)", "node", s.opts.Node)
		select {
		case <-ctx.Done():
			return ""
		case <-time.After(2 * time.Second):
		}
	}
}
