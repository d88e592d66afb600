package speaker

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironlb/ironlb/internal/configmetrics"
)

// Metrics are the speaker's metrics: MetalLB's names for what MetalLB has, ironlb_*
// for the rest. A nil *Metrics records nothing.
type Metrics struct {
	announced *prometheus.GaugeVec
	takeover  prometheus.Histogram
	config    *configmetrics.Gauges

	mu   sync.Mutex
	have map[announcedKey]bool

	ann Announcer
	mem atomic.Pointer[memHolder]
}

type memHolder struct{ m Membership }

type announcedKey struct{ service, node, ip string }

// NewMetrics registers the metrics on reg (nil: create them unregistered, for tests
// running several speakers in one process). ann is read at scrape time.
func NewMetrics(reg prometheus.Registerer, ann Announcer) *Metrics {
	m := &Metrics{
		announced: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "metallb", Subsystem: "speaker", Name: "announced",
			Help: "Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged.",
		}, []string{"service", "protocol", "node", "ip"}),
		takeover: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "ironlb", Subsystem: "layer2", Name: "takeover_seconds",
			Help:    "Time from a liveness change to this node announcing the IPs it took over.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		config: configmetrics.New(),
		have:   map[announcedKey]bool{},
		ann:    ann,
	}
	if reg != nil {
		reg.MustRegister(append([]prometheus.Collector{m.announced, m.takeover, &l2Collector{m: m}, &livenessCollector{m: m}}, m.config.Collectors()...)...)
	}
	return m
}

func (m *Metrics) setMembership(mem Membership) {
	if m != nil {
		m.mem.Store(&memHolder{mem})
	}
}

func (m *Metrics) observeTakeover(seconds float64) {
	if m != nil {
		m.takeover.Observe(seconds)
	}
}

func (m *Metrics) configLoaded(stale bool) {
	if m != nil {
		m.config.Set(stale)
	}
}

// setAnnounced makes metallb_speaker_announced list exactly what self announces.
func (m *Metrics) setAnnounced(self string, res *Result) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := map[announcedKey]bool{}
	for i := range res.Services {
		r := &res.Services[i]
		if r.Reason != "" || r.Node != self {
			continue
		}
		for _, ip := range r.IPs {
			next[announcedKey{r.Key(), self, ip.String()}] = true
		}
	}
	for k := range m.have {
		if !next[k] {
			m.announced.DeleteLabelValues(k.service, "layer2", k.node, k.ip)
		}
	}
	for k := range next {
		if !m.have[k] {
			m.announced.WithLabelValues(k.service, "layer2", k.node, k.ip).Set(1)
		}
	}
	m.have = next
}

var (
	descRequests   = prometheus.NewDesc("metallb_layer2_requests_received", "Number of layer2 requests received for owned IPs", []string{"ip"}, nil)
	descResponses  = prometheus.NewDesc("metallb_layer2_responses_sent", "Number of layer2 responses sent for owned IPs", []string{"ip"}, nil)
	descGratuitous = prometheus.NewDesc("metallb_layer2_gratuitous_sent", "Number of gratuitous layer2 packets sent for owned IPs", []string{"ip"}, nil)
)

// l2Collector reads the announcer's per-IP counters at scrape time.
type l2Collector struct{ m *Metrics }

func (c *l2Collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRequests
	ch <- descResponses
	ch <- descGratuitous
}

func (c *l2Collector) Collect(ch chan<- prometheus.Metric) {
	if c.m.ann == nil {
		return
	}
	for ip, cnt := range c.m.ann.Stats() {
		s := ip.String()
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(cnt.RequestsReceived), s)
		ch <- prometheus.MustNewConstMetric(descResponses, prometheus.CounterValue, float64(cnt.ResponsesSent), s)
		ch <- prometheus.MustNewConstMetric(descGratuitous, prometheus.CounterValue, float64(cnt.GratuitousSent), s)
	}
}

func livenessDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("ironlb_liveness_"+name, help, labels, nil)
}

var (
	descLvSent      = livenessDesc("heartbeats_sent_total", "Heartbeats built (each goes to every peer).")
	descLvSendErr   = livenessDesc("send_errors_total", "Datagrams the socket refused.")
	descLvReceived  = livenessDesc("received_total", "Datagrams read.")
	descLvAccepted  = livenessDesc("accepted_total", "Datagrams accepted.")
	descLvRejected  = livenessDesc("rejected_total", "Datagrams rejected, by reason.", "reason")
	descLvLeaves    = livenessDesc("leaves_received_total", "Goodbyes received from leaving peers.")
	descLvTieCalls  = livenessDesc("tiebreaker_calls_total", "Tie breaker (Lease) calls.")
	descLvTieWins   = livenessDesc("tiebreaker_wins_total", "Tie breaker (Lease) calls won.")
	descLvInQuorum  = livenessDesc("in_quorum", "1 while this speaker is in quorum and may announce.")
	descLvAlive     = livenessDesc("alive_members", "Members not down, as this speaker sees them.")
	descLvExpected  = livenessDesc("expected_members", "Members the quorum is counted against.")
	livenessDescAll = []*prometheus.Desc{descLvSent, descLvSendErr, descLvReceived, descLvAccepted, descLvRejected, descLvLeaves, descLvTieCalls, descLvTieWins, descLvInQuorum, descLvAlive, descLvExpected}
)

type livenessCollector struct{ m *Metrics }

func (c *livenessCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range livenessDescAll {
		ch <- d
	}
}

func (c *livenessCollector) Collect(ch chan<- prometheus.Metric) {
	h := c.m.mem.Load()
	if h == nil || h.m == nil {
		return
	}
	s := h.m.Stats()
	v := h.m.Snapshot()
	counter := func(d *prometheus.Desc, v uint64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
	}
	counter(descLvSent, s.Sent)
	counter(descLvSendErr, s.SendErrors)
	counter(descLvReceived, s.Received)
	counter(descLvAccepted, s.Accepted)
	counter(descLvRejected, s.RejectedMalformed, "malformed")
	counter(descLvRejected, s.RejectedMAC, "mac")
	counter(descLvRejected, s.RejectedReplay, "replay")
	counter(descLvRejected, s.RejectedUnknown, "unknown")
	counter(descLvLeaves, s.LeavesReceived)
	counter(descLvTieCalls, s.TieBreakerCalls)
	counter(descLvTieWins, s.TieBreakerWins)
	q := 0.0
	if v.InQuorum {
		q = 1
	}
	ch <- prometheus.MustNewConstMetric(descLvInQuorum, prometheus.GaugeValue, q)
	ch <- prometheus.MustNewConstMetric(descLvAlive, prometheus.GaugeValue, float64(len(v.Alive)))
	ch <- prometheus.MustNewConstMetric(descLvExpected, prometheus.GaugeValue, float64(v.Expected))
}

// ownedEqual compares two announcer maps.
func ownedEqual(a, b map[netip.Addr][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for ip, x := range a {
		y, ok := b[ip]
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if x[i] != y[i] {
				return false
			}
		}
	}
	return true
}
