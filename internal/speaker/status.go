package speaker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
)

// Event reasons and the speaker's event source, as MetalLB names them.
const (
	EventSource          = "metallb-speaker"
	EventNodeAssigned    = "nodeAssigned"
	EventConfigError     = "ConfigurationError"
	statusResyncInterval = 5 * time.Minute
)

// desiredStatus is a Service this node announces.
type desiredStatus struct {
	ns, name string
	ifaces   []string
}

// problem is a configuration object the speaker could not use.
type problem struct {
	kind, name, msg string
}

func (p problem) String() string { return fmt.Sprintf("%s %s: %s", p.kind, p.name, p.msg) }

// statusWriter keeps the API in line with what the speaker does, off the
// announcement path: one ServiceL2Status per announced Service (created with a
// nodeAssigned event when this node starts announcing it, deleted when it
// stops), and ConfigurationState speaker-<node>. It is level-based: it always
// works towards the latest desired state and retries on errors.
type statusWriter struct {
	s *Speaker

	mu       sync.Mutex
	desired  map[string]desiredStatus
	alive    map[string]bool
	problems []problem
	haveCfg  bool
	settled  bool
	signal   chan struct{}

	// owned by run
	known   map[string]*metallbv1beta1.ServiceL2Status // by Service key
	loaded  bool
	lastCfg string
	cfgDone bool
}

func newStatusWriter(s *Speaker) *statusWriter {
	return &statusWriter{s: s, signal: make(chan struct{}, 1)}
}

func (w *statusWriter) kick() {
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// update records the latest decision. settled: the speaker has made a decision
// worth writing (caches synced and liveness past its start hold), so an empty
// desired set really means "announce nothing".
func (w *statusWriter) update(self string, res *Result, alive []string, settled bool) {
	d := map[string]desiredStatus{}
	for i := range res.Services {
		r := &res.Services[i]
		if r.Reason == "" && r.Node == self {
			d[r.Key()] = desiredStatus{ns: r.Namespace, name: r.Name, ifaces: r.Interfaces}
		}
	}
	a := make(map[string]bool, len(alive))
	for _, n := range alive {
		a[n] = true
	}
	w.mu.Lock()
	w.desired, w.alive = d, a
	w.settled = w.settled || settled
	w.mu.Unlock()
	w.kick()
}

func (w *statusWriter) setProblems(p []problem) {
	w.mu.Lock()
	w.problems, w.haveCfg = p, true
	w.mu.Unlock()
	w.kick()
}

func (w *statusWriter) run(ctx context.Context) {
	resync := time.NewTicker(statusResyncInterval)
	defer resync.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.signal:
		case <-retry.C:
		case <-resync.C:
			w.loaded = false
		}
		if err := w.sync(ctx); err != nil && ctx.Err() == nil {
			w.s.log.V(1).Info("writing status failed, retrying", "error", err)
			retry.Reset(time.Second)
		}
	}
}

func (w *statusWriter) ownLabels() client.MatchingLabels {
	return client.MatchingLabels{metallbv1beta1.LabelAnnounceNode: w.s.opts.Node}
}

// load lists this node's ServiceL2Status objects from the API server.
func (w *statusWriter) load(ctx context.Context) error {
	var list metallbv1beta1.ServiceL2StatusList
	if err := w.s.apiReader.List(ctx, &list, client.InNamespace(w.s.opts.Namespace), w.ownLabels()); err != nil {
		return err
	}
	w.known = map[string]*metallbv1beta1.ServiceL2Status{}
	for i := range list.Items {
		st := &list.Items[i]
		key := st.Labels[metallbv1beta1.LabelServiceNamespace] + "/" + st.Labels[metallbv1beta1.LabelServiceName]
		if _, dup := w.known[key]; dup {
			if err := w.s.client.Delete(ctx, st); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			continue
		}
		w.known[key] = st
	}
	w.loaded = true
	return nil
}

func (w *statusWriter) sync(ctx context.Context) error {
	w.mu.Lock()
	desired, alive, settled := w.desired, w.alive, w.settled
	problems, haveCfg := w.problems, w.haveCfg
	w.mu.Unlock()
	var errs []error
	if haveCfg {
		if err := w.writeConfigState(ctx, problems); err != nil {
			errs = append(errs, fmt.Errorf("ConfigurationState: %w", err))
		}
	}
	if !settled {
		return errors.Join(errs...)
	}
	if !w.loaded {
		if err := w.load(ctx); err != nil {
			return fmt.Errorf("listing ServiceL2Status: %w", err)
		}
	}
	keys := make([]string, 0, len(desired))
	for k := range desired {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := w.ensure(ctx, desired[k], alive); err != nil {
			errs = append(errs, err)
		}
	}
	for k, st := range w.known {
		if _, ok := desired[k]; ok {
			continue
		}
		if err := w.s.client.Delete(ctx, st); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting ServiceL2Status %s: %w", st.Name, err))
			continue
		}
		delete(w.known, k)
	}
	return errors.Join(errs...)
}

func ifaceInfos(names []string) []metallbv1beta1.InterfaceInfo {
	var out []metallbv1beta1.InterfaceInfo
	for _, n := range names {
		out = append(out, metallbv1beta1.InterfaceInfo{Name: n})
	}
	return out
}

func (w *statusWriter) ensure(ctx context.Context, d desiredStatus, alive map[string]bool) error {
	key := d.ns + "/" + d.name
	want := metallbv1beta1.MetalLBServiceL2Status{Node: w.s.opts.Node, ServiceName: d.name, ServiceNamespace: d.ns, Interfaces: ifaceInfos(d.ifaces)}
	if st, ok := w.known[key]; ok {
		if apiequality.Semantic.DeepEqual(st.Status, want) {
			return nil
		}
		next := st.DeepCopy()
		next.Status = want
		if err := w.s.client.Status().Update(ctx, next); err != nil {
			if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
				w.loaded = false
			}
			return fmt.Errorf("updating ServiceL2Status %s: %w", st.Name, err)
		}
		w.known[key] = next
		return nil
	}
	st := &metallbv1beta1.ServiceL2Status{ObjectMeta: metav1.ObjectMeta{
		Namespace: w.s.opts.Namespace, GenerateName: "l2-",
		Labels: map[string]string{
			metallbv1beta1.LabelAnnounceNode:     w.s.opts.Node,
			metallbv1beta1.LabelServiceName:      d.name,
			metallbv1beta1.LabelServiceNamespace: d.ns,
		},
	}}
	if err := w.s.client.Create(ctx, st); err != nil {
		return fmt.Errorf("creating ServiceL2Status for %s: %w", key, err)
	}
	w.known[key] = st
	st.Status = want
	if err := w.s.client.Status().Update(ctx, st); err != nil {
		st.Status = metallbv1beta1.MetalLBServiceL2Status{}
		return fmt.Errorf("writing ServiceL2Status %s status: %w", st.Name, err)
	}
	// A new status object means this node just became the announcer: say so
	// once, on the Service (MetalLB says it on every reconcile).
	var svc corev1.Service
	if err := w.s.reader.Get(ctx, client.ObjectKey{Namespace: d.ns, Name: d.name}, &svc); err == nil {
		w.s.recorder.Eventf(&svc, corev1.EventTypeNormal, EventNodeAssigned, "announcing from node %q with protocol %q", w.s.opts.Node, "layer2")
	}
	w.s.log.Info("announcing", "service", key, "node", w.s.opts.Node, "interfaces", d.ifaces)
	// Statuses left by nodes that are down (crashed speakers cannot clean up).
	var others metallbv1beta1.ServiceL2StatusList
	if err := w.s.apiReader.List(ctx, &others, client.InNamespace(w.s.opts.Namespace), client.MatchingLabels{
		metallbv1beta1.LabelServiceName: d.name, metallbv1beta1.LabelServiceNamespace: d.ns,
	}); err != nil {
		return nil // best effort
	}
	for i := range others.Items {
		o := &others.Items[i]
		n := o.Labels[metallbv1beta1.LabelAnnounceNode]
		if n == w.s.opts.Node || alive[n] {
			continue
		}
		if err := w.s.client.Delete(ctx, o); err == nil {
			w.s.log.V(1).Info("deleted stale ServiceL2Status of a node that is down", "name", o.Name, "node", n, "service", key)
		}
	}
	return nil
}

// deleteAll removes every ServiceL2Status of this node (graceful stop).
func (w *statusWriter) deleteAll(ctx context.Context) error {
	err := w.s.client.DeleteAllOf(ctx, &metallbv1beta1.ServiceL2Status{}, client.InNamespace(w.s.opts.Namespace), w.ownLabels())
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// ConfigurationStateName is the speaker's ConfigurationState, as MetalLB names it.
func ConfigurationStateName(node string) string { return "speaker-" + node }

func (w *statusWriter) writeConfigState(ctx context.Context, problems []problem) error {
	msgs := make([]string, 0, len(problems))
	for _, p := range problems {
		msgs = append(msgs, p.String())
	}
	summary := strings.Join(msgs, "\n")
	if w.cfgDone && summary == w.lastCfg {
		return nil
	}
	key := client.ObjectKey{Namespace: w.s.opts.Namespace, Name: ConfigurationStateName(w.s.opts.Node)}
	var cs metallbv1beta1.ConfigurationState
	if err := w.s.apiReader.Get(ctx, key, &cs); err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		cs = metallbv1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{metallbv1beta1.LabelComponentType: "speaker", metallbv1beta1.LabelNodeName: w.s.opts.Node},
		}}
		if err := w.s.client.Create(ctx, &cs); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		if err := w.s.apiReader.Get(ctx, key, &cs); err != nil {
			return err
		}
	}
	before := cs.Status.DeepCopy()
	cs.Status.ErrorSummary = summary
	cond := metav1.Condition{Type: metallbv1beta1.ConditionConfigReconcilerValid, Status: metav1.ConditionTrue, Reason: metallbv1beta1.ReasonReconciled, Message: "configuration loaded"}
	cs.Status.Result = metallbv1beta1.ConfigurationStateResultValid
	if len(problems) > 0 {
		cs.Status.Result = metallbv1beta1.ConfigurationStateResultInvalid
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, metallbv1beta1.ReasonConfigurationError, summary
	}
	meta.SetStatusCondition(&cs.Status.Conditions, cond)
	if !apiequality.Semantic.DeepEqual(*before, cs.Status) {
		if err := w.s.client.Status().Update(ctx, &cs); err != nil {
			return err
		}
	}
	w.lastCfg = summary
	w.cfgDone = true
	return nil
}
