// Package l2 is ironlb's layer-2 announcer: it answers ARP requests (IPv4)
// and NDP neighbor solicitations (IPv6) for the Service IPs this node owns and
// sends gratuitous ARP / unsolicited neighbor advertisements when it takes an
// IP over. See README.md.
package l2

import (
	"context"
	"errors"
	"math"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
)

// DefaultGratuitousSchedule is when gratuitous announcements are sent,
// relative to the moment an IP is taken on an interface.
var DefaultGratuitousSchedule = []time.Duration{
	0, 100 * time.Millisecond, 300 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second,
}

// DefaultRescanInterval is the fallback interface rescan period (netlink link
// and address updates trigger a rescan at once).
const DefaultRescanInterval = 5 * time.Second

// Options configures an Announcer. The zero value is usable.
type Options struct {
	// ExcludePatterns are regular expressions of interface names never used.
	// nil means DefaultExcludedInterfaces; a non-nil empty slice excludes
	// nothing.
	ExcludePatterns []string
	// RescanInterval is the fallback rescan period (default 5 s).
	RescanInterval time.Duration
	// GratuitousSchedule overrides DefaultGratuitousSchedule (offsets from
	// the takeover, ascending).
	GratuitousSchedule []time.Duration
	// Logger receives logs; the zero value discards them.
	Logger logr.Logger
}

// InterfaceEvent reports that an interface became usable or stopped being
// usable (down, no carrier, enslaved, NOARP, deleted, renamed, ...).
type InterfaceEvent struct {
	Interface string
	// Up is true when the interface became eligible, false when it stopped.
	Up bool
	// Reason says why an interface stopped being eligible.
	Reason string
	// IPs are the owned IPs that were (Up=false) or are now (Up=true)
	// announced on this interface.
	IPs []netip.Addr
	// Stranded (Up=false only) are owned IPs that now have no eligible
	// interface at all on this node: the speaker should move them.
	Stranded []netip.Addr
}

// Counters are the per-IP layer-2 counters (metallb_layer2_requests_received,
// metallb_layer2_responses_sent, metallb_layer2_gratuitous_sent).
type Counters struct {
	RequestsReceived uint64
	ResponsesSent    uint64
	// GratuitousSent counts gratuitous rounds: one per interface per
	// schedule step (an ARP request+reply pair, or one unsolicited NA).
	GratuitousSent uint64
}

type counters struct{ requests, responses, gratuitous atomic.Uint64 }

// ownedSet is an immutable snapshot of the IPs we own; responders read it
// lock-free on every packet.
type ownedSet struct {
	m map[netip.Addr]map[string]struct{} // nil inner map = all interfaces
}

func (o *ownedSet) allows(ip netip.Addr, ifname string) bool {
	if o == nil {
		return false
	}
	f, ok := o.m[ip]
	if !ok {
		return false
	}
	if f == nil {
		return true
	}
	_, ok = f[ifname]
	return ok
}

type ifaceState struct {
	info linkInfo
	arp  *arpResponder
	ndp  *ndpResponder
}

type pairKey struct {
	ip     netip.Addr
	ifname string
}

// Announcer answers ARP and NDP for the owned IPs on the eligible interfaces
// of the network namespace it runs in.
type Announcer struct {
	log      logr.Logger
	ex       *Excluder
	rescanIv time.Duration
	schedule []time.Duration

	owned atomic.Pointer[ownedSet]
	// deadline: on base's monotonic clock, the instant after which nothing
	// is answered or announced (see SetDeadline); noDeadline until set.
	base     time.Time
	deadline atomic.Int64

	ctx    context.Context // lifetime, cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	scanned bool
	running bool
	ifaces  map[string]*ifaceState
	bursts  map[pairKey]context.CancelFunc
	kick    chan struct{}

	statsMu sync.Mutex
	stats   map[netip.Addr]*counters

	events chan InterfaceEvent
}

// New returns an Announcer. Nothing is opened until Run.
func New(opts Options) (*Announcer, error) {
	pats := opts.ExcludePatterns
	if pats == nil {
		pats = DefaultExcludedInterfaces
	}
	ex, err := NewExcluder(pats)
	if err != nil {
		return nil, err
	}
	a := &Announcer{
		log:      opts.Logger,
		ex:       ex,
		rescanIv: opts.RescanInterval,
		schedule: append([]time.Duration(nil), opts.GratuitousSchedule...),
		ifaces:   map[string]*ifaceState{},
		bursts:   map[pairKey]context.CancelFunc{},
		kick:     make(chan struct{}, 1),
		stats:    map[netip.Addr]*counters{},
		events:   make(chan InterfaceEvent, 256),
	}
	if a.rescanIv <= 0 {
		a.rescanIv = DefaultRescanInterval
	}
	if len(a.schedule) == 0 {
		a.schedule = append(a.schedule, DefaultGratuitousSchedule...)
	}
	sort.Slice(a.schedule, func(i, j int) bool { return a.schedule[i] < a.schedule[j] })
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.owned.Store(&ownedSet{})
	a.base = time.Now()
	a.deadline.Store(noDeadline)
	return a, nil
}

const (
	noDeadline = math.MaxInt64 // SetDeadline never called: no limit
	expired    = math.MinInt64 // SetDeadline(time.Time{})
)

// SetDeadline limits every answer and gratuitous announcement to before t,
// on the monotonic clock; the zero time stops them all. Until it is first
// called there is no limit.
//
// The speaker passes the instant until which its node is known to be in
// quorum, so that a process that was stopped (SIGSTOP, CPU throttling, a long
// GC) and resumes answers nothing until liveness has looked again: the owned
// set alone would have it answer the ARP requests queued while it was
// stopped, for IPs another node took over meanwhile. The check is made on
// every packet, just before it is sent, and costs one atomic load.
func (a *Announcer) SetDeadline(t time.Time) {
	if t.IsZero() {
		a.deadline.Store(expired)
		return
	}
	a.deadline.Store(int64(t.Sub(a.base))) // Sub saturates
}

// answering: the deadline has not passed.
func (a *Announcer) answering() bool {
	return int64(time.Since(a.base)) < a.deadline.Load()
}

// SetIPs replaces the set of owned IPs. Each IP maps to the interface names
// it is announced on; nil or empty means every eligible interface. It is
// level-based and idempotent: IPs (or interfaces) no longer listed stop being
// answered immediately, newly listed (ip, interface) pairs get a gratuitous
// burst, unchanged pairs are left alone. IPv4-mapped IPv6 addresses are
// treated as IPv4; zones are ignored.
func (a *Announcer) SetIPs(owned map[netip.Addr][]string) {
	next := &ownedSet{m: make(map[netip.Addr]map[string]struct{}, len(owned))}
	for ip, names := range owned {
		ip = ip.Unmap().WithZone("")
		if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() {
			continue
		}
		var f map[string]struct{}
		if len(names) > 0 {
			f = map[string]struct{}{}
			if old, ok := next.m[ip]; ok && old != nil {
				f = old
			}
			for _, n := range names {
				if n != "" {
					f[n] = struct{}{}
				}
			}
			if len(f) == 0 {
				f = nil
			}
		}
		if old, ok := next.m[ip]; ok && old == nil {
			f = nil // "all interfaces" wins when an IP appears twice (4-in-6)
		}
		next.m[ip] = f
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.owned.Store(next)
	if !a.closed {
		a.reconcileLocked()
	}
}

// Run scans interfaces, keeps responders up to date on netlink link/address
// updates and every RescanInterval, and blocks until ctx is done or Close is
// called; it then closes the Announcer. Run may be called once.
func (a *Announcer) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return errors.New("l2: announcer closed")
	}
	if a.running {
		a.mu.Unlock()
		return errors.New("l2: Run called twice")
	}
	a.running = true
	a.mu.Unlock()
	defer a.Close()

	done := make(chan struct{})
	defer close(done)
	linkCh, addrCh := a.subscribeLinks(done), a.subscribeAddrs(done)

	a.rescan()
	t := time.NewTicker(a.rescanIv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.ctx.Done():
			return nil
		case _, ok := <-linkCh:
			if !ok {
				// The subscription died (e.g. ENOBUFS): resubscribe and
				// rescan, since updates may have been lost.
				a.log.Info("netlink link subscription lost, resubscribing")
				a.pause(ctx)
				linkCh = a.subscribeLinks(done)
			}
		case _, ok := <-addrCh:
			if !ok {
				a.log.Info("netlink address subscription lost, resubscribing")
				a.pause(ctx)
				addrCh = a.subscribeAddrs(done)
			}
		case <-a.kick:
		case <-t.C:
		}
		// Coalesce bursts of updates.
		drain(linkCh, addrCh)
		a.rescan()
	}
}

// pause waits a second (or until shutdown) so a persistently failing
// subscription does not spin.
func (a *Announcer) pause(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-a.ctx.Done():
	case <-time.After(time.Second):
	}
}

// subscribeLinks opens a netlink link subscription that ends when stop is
// closed. A nil channel (subscription failed) blocks forever; the periodic
// rescan covers it.
func (a *Announcer) subscribeLinks(stop <-chan struct{}) chan netlink.LinkUpdate {
	ch := make(chan netlink.LinkUpdate, 64)
	if err := netlink.LinkSubscribeWithOptions(ch, stop, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) { a.log.V(1).Info("netlink link subscription ended", "err", err.Error()) },
	}); err != nil {
		a.log.Error(err, "netlink link subscription failed, relying on periodic rescans")
		return nil
	}
	return ch
}

// subscribeAddrs is subscribeLinks for address updates (an IPv6 link-local
// address becoming usable enables NDP on an interface).
func (a *Announcer) subscribeAddrs(stop <-chan struct{}) chan netlink.AddrUpdate {
	ch := make(chan netlink.AddrUpdate, 64)
	if err := netlink.AddrSubscribeWithOptions(ch, stop, netlink.AddrSubscribeOptions{
		ErrorCallback: func(err error) { a.log.V(1).Info("netlink address subscription ended", "err", err.Error()) },
	}); err != nil {
		a.log.Error(err, "netlink address subscription failed, relying on periodic rescans")
		return nil
	}
	return ch
}

func drain(l chan netlink.LinkUpdate, ad chan netlink.AddrUpdate) {
	for {
		select {
		case _, ok := <-l:
			if !ok {
				return
			}
		case _, ok := <-ad:
			if !ok {
				return
			}
		default:
			return
		}
	}
}

// Close stops all responders and bursts and waits for their goroutines. It
// is idempotent. The InterfaceEvents channel is not closed.
func (a *Announcer) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.cancel()
	for k, c := range a.bursts {
		c()
		delete(a.bursts, k)
	}
	for name, st := range a.ifaces {
		closeIface(st)
		delete(a.ifaces, name)
	}
	a.mu.Unlock()
	a.wg.Wait()
	return nil
}

// Interfaces lists the names of the eligible interfaces, sorted. Before Run
// has scanned, it scans on the spot.
func (a *Announcer) Interfaces() []string {
	a.mu.Lock()
	if a.scanned {
		out := make([]string, 0, len(a.ifaces))
		for n := range a.ifaces {
			out = append(out, n)
		}
		a.mu.Unlock()
		sort.Strings(out)
		return out
	}
	a.mu.Unlock()
	links, err := scanLinks()
	if err != nil {
		a.log.Error(err, "listing links")
		return nil
	}
	var out []string
	for _, l := range links {
		if ok, _ := eligible(l, a.ex); ok {
			out = append(out, l.Name)
		}
	}
	return out
}

// InterfaceEvents delivers interface eligibility changes. The channel is
// buffered (256); events are dropped when it is full, so consumers that need
// the full picture should also call Interfaces.
func (a *Announcer) InterfaceEvents() <-chan InterfaceEvent { return a.events }

// Stats returns a snapshot of the per-IP counters. Counters are kept for IPs
// that are no longer owned (they are monotonic, like Prometheus counters).
func (a *Announcer) Stats() map[netip.Addr]Counters {
	a.statsMu.Lock()
	defer a.statsMu.Unlock()
	out := make(map[netip.Addr]Counters, len(a.stats))
	for ip, c := range a.stats {
		out[ip] = Counters{
			RequestsReceived: c.requests.Load(),
			ResponsesSent:    c.responses.Load(),
			GratuitousSent:   c.gratuitous.Load(),
		}
	}
	return out
}

func (a *Announcer) counter(ip netip.Addr) *counters {
	a.statsMu.Lock()
	defer a.statsMu.Unlock()
	c := a.stats[ip]
	if c == nil {
		c = &counters{}
		a.stats[ip] = c
	}
	return c
}

func (a *Announcer) emit(ev InterfaceEvent) {
	select {
	case a.events <- ev:
	default:
		a.log.Info("interface event dropped: channel full", "interface", ev.Interface, "up", ev.Up)
	}
}

func closeIface(st *ifaceState) {
	if st.arp != nil {
		st.arp.close()
		st.arp = nil
	}
	if st.ndp != nil {
		st.ndp.close()
		st.ndp = nil
	}
}

// rescan brings responders in line with the current links.
func (a *Announcer) rescan() {
	links, err := scanLinks()
	if err != nil {
		a.log.Error(err, "listing links")
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.scanned = true
	seen := map[string]bool{}
	for _, l := range links {
		seen[l.Name] = true
		cur := a.ifaces[l.Name]
		ok, reason := eligible(l, a.ex)
		if !ok {
			if cur != nil {
				a.dropIfaceLocked(cur, reason)
			}
			continue
		}
		if cur != nil && (cur.info.Index != l.Index || string(cur.info.MAC) != string(l.MAC)) {
			a.dropIfaceLocked(cur, "index or MAC changed")
			cur = nil
		}
		if cur == nil {
			cur = &ifaceState{info: l}
			a.ifaces[l.Name] = cur
			a.log.Info("interface eligible", "interface", l.Name)
			a.emit(InterfaceEvent{Interface: l.Name, Up: true, IPs: a.ipsOnLocked(l.Name)})
		}
		cur.info = l
		var ifi *net.Interface
		getIfi := func() *net.Interface {
			if ifi == nil {
				ifi = &net.Interface{Index: l.Index, Name: l.Name, HardwareAddr: l.MAC, MTU: 1500}
				if real, err := net.InterfaceByIndex(l.Index); err == nil {
					ifi = real
				}
			}
			return ifi
		}
		if cur.arp == nil && l.arpCapable() {
			r, err := newARPResponder(a, getIfi())
			if err != nil {
				a.log.Error(err, "opening ARP responder", "interface", l.Name)
			} else {
				cur.arp = r
				a.log.V(1).Info("ARP responder started", "interface", l.Name)
			}
		}
		if cur.ndp != nil && !l.ndpCapable() {
			cur.ndp.close()
			cur.ndp = nil
		}
		if cur.ndp == nil && l.ndpCapable() {
			r, err := newNDPResponder(a, getIfi())
			if err != nil {
				a.log.Error(err, "opening NDP responder", "interface", l.Name)
			} else {
				cur.ndp = r
				a.log.V(1).Info("NDP responder started", "interface", l.Name)
			}
		}
	}
	for name, cur := range a.ifaces {
		if !seen[name] {
			a.dropIfaceLocked(cur, "removed")
		}
	}
	a.reconcileLocked()
}

// ipsOnLocked lists the owned IPs that may use interface name.
func (a *Announcer) ipsOnLocked(name string) []netip.Addr {
	o := a.owned.Load()
	var out []netip.Addr
	for ip := range o.m {
		if o.allows(ip, name) {
			out = append(out, ip)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Less(out[j]) })
	return out
}

func (a *Announcer) dropIfaceLocked(st *ifaceState, reason string) {
	name := st.info.Name
	closeIface(st)
	delete(a.ifaces, name)
	for k, c := range a.bursts {
		if k.ifname == name {
			c()
			delete(a.bursts, k)
		}
	}
	ips := a.ipsOnLocked(name)
	var stranded []netip.Addr
	for _, ip := range ips {
		has := false
		for other, ost := range a.ifaces {
			if !a.owned.Load().allows(ip, other) {
				continue
			}
			if (ip.Is4() && ost.info.arpCapable()) || (ip.Is6() && ost.info.ndpCapable()) {
				has = true
				break
			}
		}
		if !has {
			stranded = append(stranded, ip)
		}
	}
	a.log.Info("interface no longer eligible", "interface", name, "reason", reason, "ips", ips, "stranded", stranded)
	a.emit(InterfaceEvent{Interface: name, Up: false, Reason: reason, IPs: ips, Stranded: stranded})
}

// responderFailed drops a responder whose socket broke; the next rescan
// reopens it.
func (a *Announcer) responderFailed(name string, ar *arpResponder, nr *ndpResponder) {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.ifaces[name]
	if st == nil {
		return
	}
	if ar != nil && st.arp == ar {
		ar.close()
		st.arp = nil
	}
	if nr != nil && st.ndp == nr {
		nr.close()
		st.ndp = nil
	}
	a.reconcileLocked()
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// reconcileLocked joins/leaves solicited-node groups and starts/stops
// gratuitous bursts so they match (owned IPs x usable responders).
func (a *Announcer) reconcileLocked() {
	o := a.owned.Load()
	desired := map[pairKey]struct{}{}
	for name, st := range a.ifaces {
		groups := map[netip.Addr]struct{}{}
		for ip := range o.m {
			if !o.allows(ip, name) {
				continue
			}
			switch {
			case ip.Is4() && st.arp != nil:
				desired[pairKey{ip, name}] = struct{}{}
			case ip.Is6() && st.ndp != nil:
				desired[pairKey{ip, name}] = struct{}{}
				if g, err := ndp.SolicitedNodeMulticast(ip); err == nil {
					groups[g] = struct{}{}
				}
			}
		}
		if st.ndp != nil {
			st.ndp.setGroups(groups)
		}
	}
	for k, c := range a.bursts {
		if _, ok := desired[k]; !ok {
			c()
			delete(a.bursts, k)
		}
	}
	if a.closed {
		return
	}
	for k := range desired {
		if _, ok := a.bursts[k]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(a.ctx)
		a.bursts[k] = cancel
		a.wg.Add(1)
		go a.burst(ctx, k)
	}
}

// burst sends the gratuitous announcements of one (ip, interface) pair on
// the schedule, then stays quiet; its entry in a.bursts marks the pair as
// announced until it is dropped.
func (a *Announcer) burst(ctx context.Context, k pairKey) {
	defer a.wg.Done()
	start := time.Now()
	for _, off := range a.schedule {
		if d := time.Until(start.Add(off)); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		// Send under a.mu, re-checking ctx: dropping the pair (which cancels
		// ctx under a.mu) must never be followed by one more announcement,
		// or a client could flip back to us after another node took over.
		a.mu.Lock()
		if ctx.Err() != nil {
			a.mu.Unlock()
			return
		}
		if !a.answering() { // past the deadline: skip this step, keep the schedule
			a.mu.Unlock()
			continue
		}
		st := a.ifaces[k.ifname]
		var err error
		switch {
		case st != nil && k.ip.Is4() && st.arp != nil:
			err = st.arp.gratuitous(k.ip)
		case st != nil && k.ip.Is6() && st.ndp != nil:
			err = st.ndp.gratuitous(k.ip)
		default:
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		if err != nil {
			a.log.Error(err, "sending gratuitous announcement", "interface", k.ifname, "ip", k.ip)
			continue
		}
		a.counter(k.ip).gratuitous.Add(1)
	}
}
