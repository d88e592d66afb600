package speakerapp_test

// Integration tests: two speakers run in-process against a real kube-apiserver
// (internal/testenv), with real liveness over loopback (127.0.0.x) and the
// layer 2 announcer replaced by a fake that records SetIPs. Real ARP/NDP is
// covered by internal/l2's namespace test and the namespace e2e.

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/app/speakerapp"
	"github.com/ironlb/ironlb/internal/l2"
	"github.com/ironlb/ironlb/internal/liveness"
	"github.com/ironlb/ironlb/internal/rendezvous"
	"github.com/ironlb/ironlb/internal/scheme"
	"github.com/ironlb/ironlb/internal/speaker"
	"github.com/ironlb/ironlb/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	if os.Getenv("SPEAKER_TEST_LOG") != "" {
		ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})))
	} else {
		ctrl.SetLogger(logr.Discard())
	}
	os.Exit(testenv.Main(m, &env))
}

// fakeAnnouncer records what the speaker asks to announce.
type fakeAnnouncer struct {
	mu     sync.Mutex
	ips    map[netip.Addr][]string
	ifaces []string
	events chan l2.InterfaceEvent
}

func newFakeAnnouncer() *fakeAnnouncer {
	return &fakeAnnouncer{ifaces: []string{"eth0"}, events: make(chan l2.InterfaceEvent, 16)}
}

func (f *fakeAnnouncer) SetIPs(m map[netip.Addr][]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ips = map[netip.Addr][]string{}
	for k, v := range m {
		f.ips[k] = slices.Clone(v)
	}
}

func (f *fakeAnnouncer) owns(ip netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.ips[ip]
	return ok
}

func (f *fakeAnnouncer) Interfaces() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ifaces)
}

func (f *fakeAnnouncer) setInterfaces(up []string, down string) {
	f.mu.Lock()
	f.ifaces = up
	var stranded []netip.Addr
	if down != "" && len(up) == 0 {
		for ip := range f.ips {
			stranded = append(stranded, ip)
		}
	}
	f.mu.Unlock()
	f.events <- l2.InterfaceEvent{Interface: down, Up: down == "", Reason: "test", Stranded: stranded}
}

func (f *fakeAnnouncer) InterfaceEvents() <-chan l2.InterfaceEvent { return f.events }
func (f *fakeAnnouncer) Stats() map[netip.Addr]l2.Counters         { return nil }

// killableMember is a real liveness member whose heartbeats the test can stop
// without a goodbye, as if the node crashed or were cut off.
type killableMember struct {
	*liveness.Member
	mu     sync.Mutex
	cancel context.CancelFunc
}

// Run returns only when ctx ends: after kill the speaker goes on as if its
// liveness had died with the node (it does not clear its liveness annotation).
func (k *killableMember) Run(ctx context.Context) error {
	inner, cancel := context.WithCancel(ctx)
	k.mu.Lock()
	k.cancel = cancel
	k.mu.Unlock()
	err := k.Member.Run(inner)
	<-ctx.Done()
	return err
}

func (k *killableMember) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cancel != nil {
		k.cancel()
	}
}

type speakerInst struct {
	node   string
	ip     string
	ann    *fakeAnnouncer
	member atomic.Pointer[killableMember]
	stop   context.CancelFunc
	done   chan error
}

var seq atomic.Int64

type fixture struct {
	t       *testing.T
	ctx     context.Context
	c       client.Client
	n       int64
	ns      string
	svcNS   string
	lbClass string
	port    int
	// Optional: speaker options and a liveness config tweak for the next start.
	speakerOpts *speaker.Options
	tweak       func(*liveness.Config)
	// opts, if set, adjusts the speakers' options (after speakerOpts).
	opts func(*speaker.Options)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	testenv.Require(t, env)
	n := seq.Add(1)
	f := &fixture{t: t, ctx: t.Context(), n: n, ns: fmt.Sprintf("lbcfg-%d", n), svcNS: fmt.Sprintf("svc-%d", n), lbClass: fmt.Sprintf("ironlb.test/s%d", n)}
	c, err := client.New(env.Config, client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	f.c = c
	for _, ns := range []string{f.ns, f.svcNS} {
		if err := c.Create(f.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	f.port = freePort(t, "127.0.0.21", "127.0.0.22", "127.0.0.23")
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "memberlist"}, Data: map[string][]byte{"secretkey": []byte("0123456789abcdef0123456789abcdef")}}
	if err := c.Create(f.ctx, sec); err != nil {
		t.Fatal(err)
	}
	return f
}

// freePort finds a UDP port free on every given loopback address.
func freePort(t *testing.T, hosts ...string) int {
	t.Helper()
	for range 100 {
		p := 20000 + rand.IntN(30000)
		ok := true
		var conns []net.PacketConn
		for _, h := range hosts {
			c, err := net.ListenPacket("udp", net.JoinHostPort(h, fmt.Sprint(p)))
			if err != nil {
				ok = false
				break
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free UDP port on loopback")
	return 0
}

// node creates a Node with an InternalIP on loopback; deleted at the end (other
// tests' speakers would count it as a peer).
func (f *fixture) node(name, ip string, lbls map[string]string) {
	f.t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}
	if err := f.c.Create(f.ctx, n); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = f.c.Delete(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}) })
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}}
	if err := f.c.Status().Update(f.ctx, n); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) start(name, ip string) *speakerInst {
	f.t.Helper()
	return f.startWith(env.Config, name, ip)
}

// startWith runs a speaker with the given API credentials.
func (f *fixture) startWith(cfg *rest.Config, name, ip string) *speakerInst {
	f.t.Helper()
	s := &speakerInst{node: name, ip: ip, ann: newFakeAnnouncer(), done: make(chan error, 1)}
	o := speakerapp.Options{
		NodeName: name, Namespace: f.ns, LBClass: f.lbClass, LivenessPort: f.port,
		Speaker: speaker.Options{Debounce: 5 * time.Millisecond, SettleAfter: 3 * time.Second},
	}
	if f.speakerOpts != nil {
		o.Speaker = *f.speakerOpts
	}
	if f.opts != nil {
		f.opts(&o.Speaker)
	}
	mo := speakerapp.ManagerOptions(o)
	skip := true
	mo.Controller = config.Controller{SkipNameValidation: &skip}
	mo.GracefulShutdownTimeout = durationPtr(20 * time.Second)
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		f.t.Fatal(err)
	}
	err = speakerapp.Setup(mgr, o, speakerapp.Deps{
		Announcer: s.ann,
		NewMembership: func(c liveness.Config) (speaker.Membership, error) {
			if f.tweak != nil {
				f.tweak(&c)
			}
			m, err := liveness.New(c)
			if err != nil {
				return nil, err
			}
			k := &killableMember{Member: m}
			s.member.Store(k)
			return k, nil
		},
	})
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go func() { s.done <- mgr.Start(ctx) }()
	f.t.Cleanup(func() { s.shutdown(f.t) })
	return s
}

func (s *speakerInst) shutdown(t *testing.T) {
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("speaker %s: %v", s.node, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("speaker %s did not stop", s.node)
	}
}

func durationPtr(d time.Duration) *time.Duration { return &d }

func (f *fixture) eventually(what string, cond func() (bool, error)) {
	f.t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(f.ctx, 20*time.Millisecond, 60*time.Second, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok, nil
	})
	if err != nil {
		f.t.Fatalf("timed out waiting for %s (last: %v)", what, last)
	}
}

// lbService creates a LoadBalancer Service with the given ingress IP (the
// controller is not running: the test plays its part) and a ready endpoint on
// epNode.
func (f *fixture) lbService(name, ip, epNode string) *corev1.Service {
	f.t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: f.svcNS, Name: name},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, LoadBalancerClass: &f.lbClass,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		},
	}
	if err := f.c.Create(f.ctx, svc); err != nil {
		f.t.Fatal(err)
	}
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	if err := f.c.Status().Update(f.ctx, svc); err != nil {
		f.t.Fatal(err)
	}
	ready := true
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: f.svcNS, Name: name + "-1", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{"198.18.1.10"}, NodeName: &epNode,
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		}},
	}
	if err := f.c.Create(f.ctx, es); err != nil {
		f.t.Fatal(err)
	}
	return svc
}

func (f *fixture) statuses() []metallbv1beta1.ServiceL2Status {
	var list metallbv1beta1.ServiceL2StatusList
	if err := f.c.List(f.ctx, &list, client.InNamespace(f.ns)); err != nil {
		f.t.Fatal(err)
	}
	return list.Items
}

// nodeAssigned returns the nodeAssigned events on the Service, counting
// repeats the recorder aggregated.
func (f *fixture) nodeAssigned(svc string) (total int, msgs []string) {
	var list corev1.EventList
	if err := f.c.List(f.ctx, &list, client.InNamespace(f.svcNS)); err != nil {
		f.t.Fatal(err)
	}
	for _, e := range list.Items {
		if e.InvolvedObject.Name != svc || e.Reason != speaker.EventNodeAssigned {
			continue
		}
		if e.Source.Component != speaker.EventSource {
			f.t.Errorf("event source %q, want %q", e.Source.Component, speaker.EventSource)
		}
		total += int(max(e.Count, 1))
		msgs = append(msgs, e.Message)
	}
	slices.Sort(msgs)
	return total, msgs
}

func assignedMsg(node string) string {
	return fmt.Sprintf("announcing from node %q with protocol \"layer2\"", node)
}

// waitOwner waits until exactly want announces ip among the speakers, with one
// ServiceL2Status saying so, and nodeAssigned has been emitted wantEvents times.
func (f *fixture) waitOwner(ip netip.Addr, want *speakerInst, all []*speakerInst, svc string, wantEvents int) {
	f.t.Helper()
	f.eventually(fmt.Sprintf("%s to be announced only by %s", ip, want.node), func() (bool, error) {
		var owners []string
		for _, s := range all {
			if s.ann.owns(ip) {
				owners = append(owners, s.node)
			}
		}
		if len(owners) != 1 || owners[0] != want.node {
			return false, fmt.Errorf("announced by %v", owners)
		}
		st := f.statuses()
		if len(st) != 1 || st[0].Status.Node != want.node {
			var desc []string
			for _, x := range st {
				desc = append(desc, x.Name+"@"+x.Status.Node)
			}
			return false, fmt.Errorf("ServiceL2Status objects %v", desc)
		}
		if n, msgs := f.nodeAssigned(svc); n != wantEvents {
			return false, fmt.Errorf("%d nodeAssigned events %q, want %d", n, msgs, wantEvents)
		}
		return true, nil
	})
	st := f.statuses()[0]
	if st.Status.ServiceName != svc || st.Status.ServiceNamespace != f.svcNS || !strings.HasPrefix(st.Name, "l2-") {
		f.t.Errorf("ServiceL2Status %s = %+v", st.Name, st.Status)
	}
	for k, v := range map[string]string{metallbv1beta1.LabelAnnounceNode: want.node, metallbv1beta1.LabelServiceName: svc, metallbv1beta1.LabelServiceNamespace: f.svcNS} {
		if st.Labels[k] != v {
			f.t.Errorf("ServiceL2Status label %s = %q, want %q", k, st.Labels[k], v)
		}
	}
}

// steady checks the state holds for a while (no second announcer, no repeated events).
func (f *fixture) steady(ip netip.Addr, want *speakerInst, all []*speakerInst, svc string, wantEvents int) {
	f.t.Helper()
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		for _, s := range all {
			if s.ann.owns(ip) != (s == want) {
				f.t.Fatalf("%s: owns(%s) = %v", s.node, ip, s.ann.owns(ip))
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, msgs := f.nodeAssigned(svc); n != wantEvents {
		f.t.Fatalf("%d nodeAssigned events %q, want %d", n, msgs, wantEvents)
	}
	if st := f.statuses(); len(st) != 1 {
		f.t.Fatalf("%d ServiceL2Status objects, want 1", len(st))
	}
}

func (f *fixture) nodeAnnotation(name string) (string, bool) {
	var n corev1.Node
	if err := f.c.Get(f.ctx, client.ObjectKey{Name: name}, &n); err != nil {
		f.t.Fatal(err)
	}
	v, ok := n.Annotations[speaker.InterfacesAnnotation]
	return v, ok
}

// TestTwoSpeakers: exactly one of two speakers announces; ServiceL2Status and the
// nodeAssigned event appear once per announcing node; the IP moves when the
// owner's interface goes down and back, and when its liveness stops (the
// two-node tie-breaker Lease lets the survivor stay in quorum); a graceful stop
// withdraws and deletes the status.
func TestTwoSpeakers(t *testing.T) {
	f := newFixture(t)
	names := []string{fmt.Sprintf("t%d-a", f.n), fmt.Sprintf("t%d-b", f.n)}
	ips := []string{"127.0.0.21", "127.0.0.22"}
	for i := range names {
		f.node(names[i], ips[i], map[string]string{"kubernetes.io/hostname": names[i]})
	}
	pool := &metallbv1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "p"}, Spec: metallbv1beta1.IPAddressPoolSpec{Addresses: []string{"198.51.100.0/24"}}}
	if err := f.c.Create(f.ctx, pool); err != nil {
		t.Fatal(err)
	}
	good := &metallbv1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "good"}}
	if err := f.c.Create(f.ctx, good); err != nil {
		t.Fatal(err)
	}
	bad := &metallbv1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "bad"}}
	bad.Spec.NodeSelectors = []metav1.LabelSelector{{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "x", Operator: "Bogus"}}}}
	if err := f.c.Create(f.ctx, bad); err != nil {
		t.Fatal(err)
	}
	const svcName = "web"
	ip := netip.MustParseAddr("198.51.100.10")
	f.lbService(svcName, ip.String(), names[0])

	sp := []*speakerInst{f.start(names[0], ips[0]), f.start(names[1], ips[1])}
	ownerName, _ := rendezvous.Owner(ip, names)
	owner, other := sp[0], sp[1]
	if ownerName != owner.node {
		owner, other = other, owner
	}

	// 1. Exactly one announces, one status, one event.
	// The first speaker up serves alone until the other joins its member
	// set; count the events from when both are members.
	f.members(sp, 2)
	f.exclusive(ip, owner, sp)
	base, msgs := f.nodeAssigned(svcName)
	if !slices.Contains(msgs, assignedMsg(owner.node)) {
		t.Fatalf("event messages %q, want %q", msgs, assignedMsg(owner.node))
	}
	f.waitOwner(ip, owner, sp, svcName, base)
	f.steady(ip, owner, sp, svcName, base)
	for _, n := range names {
		if v, ok := f.nodeAnnotation(n); !ok || v != "eth0" {
			t.Fatalf("node %s annotation %s = %q (present %v), want eth0", n, speaker.InterfacesAnnotation, v, ok)
		}
	}

	// The bad advertisement is reported (event + ConfigurationState) and did not
	// stop the good one.
	f.eventually("a Warning event on the bad L2Advertisement", func() (bool, error) {
		var list corev1.EventList
		if err := f.c.List(f.ctx, &list, client.InNamespace(f.ns)); err != nil {
			return false, err
		}
		for _, e := range list.Items {
			if e.InvolvedObject.Name == "bad" && e.Type == corev1.EventTypeWarning && e.Reason == speaker.EventConfigError {
				return true, nil
			}
		}
		return false, fmt.Errorf("%d events in %s", len(list.Items), f.ns)
	})
	f.eventually("ConfigurationState speaker-<node> to be Invalid", func() (bool, error) {
		var cs metallbv1beta1.ConfigurationState
		if err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: speaker.ConfigurationStateName(owner.node)}, &cs); err != nil {
			return false, err
		}
		ok := cs.Status.Result == metallbv1beta1.ConfigurationStateResultInvalid && strings.Contains(cs.Status.ErrorSummary, "L2Advertisement bad") &&
			cs.Labels[metallbv1beta1.LabelComponentType] == "speaker" && cs.Labels[metallbv1beta1.LabelNodeName] == owner.node
		return ok, fmt.Errorf("%+v", cs.Status)
	})

	// 2. The owner's only interface goes down: it republishes its interfaces and
	// the other node takes over; when the interface comes back, it takes the IP back.
	owner.ann.setInterfaces(nil, "eth0")
	f.eventually("the annotation to say no interfaces", func() (bool, error) {
		v, ok := f.nodeAnnotation(owner.node)
		return ok && v == "", fmt.Errorf("%q %v", v, ok)
	})
	f.waitOwner(ip, other, sp, svcName, base+1)
	owner.ann.setInterfaces([]string{"eth0"}, "")
	f.waitOwner(ip, owner, sp, svcName, base+2)
	f.steady(ip, owner, sp, svcName, base+2)

	// 3. The owner's liveness stops without a goodbye (crash, partition): it stops
	// announcing at once, the other wins the tie-breaker Lease and takes over.
	owner.member.Load().kill()
	f.waitOwner(ip, other, sp, svcName, base+3)
	var lease coordinationv1.Lease
	if err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: speaker.TieBreakLeaseName}, &lease); err != nil {
		t.Fatalf("tie-breaker Lease: %v", err)
	}
	if h := lease.Spec.HolderIdentity; h == nil || *h != other.node {
		t.Fatalf("tie-breaker Lease held by %v, want %s", h, other.node)
	}
	f.steady(ip, other, sp, svcName, base+3)

	// 4. Graceful stop: the announcer withdraws and its status goes away.
	other.shutdown(t)
	if other.ann.owns(ip) {
		t.Fatal("stopped speaker still announces")
	}
	f.eventually("no ServiceL2Status left", func() (bool, error) {
		return len(f.statuses()) == 0, fmt.Errorf("%d left", len(f.statuses()))
	})
}
