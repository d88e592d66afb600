package allocation

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironlb/ironlb/internal/configmetrics"
)

// Metrics are the controller's metrics under MetalLB's names, so existing dashboards
// and the alert rules of MetalLB's Helm chart keep working.
type Metrics struct {
	reg          prometheus.Registerer
	collectors   []prometheus.Collector
	updates      prometheus.Counter
	updateErrors prometheus.Counter
	config       *configmetrics.Gauges
}

// NewMetrics registers the metrics on reg and the pool collector reading state.
func NewMetrics(reg prometheus.Registerer, state *State) *Metrics {
	m := &Metrics{
		updates: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "metallb", Subsystem: "k8s_client", Name: "updates_total",
			Help: "Number of k8s object updates that have been processed.",
		}),
		updateErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "metallb", Subsystem: "k8s_client", Name: "update_errors_total",
			Help: "Number of k8s object updates that failed for some reason.",
		}),
		config: configmetrics.New(),
	}
	if reg != nil {
		m.reg = reg
		m.collectors = append([]prometheus.Collector{m.updates, m.updateErrors, &poolCollector{state: state}}, m.config.Collectors()...)
		reg.MustRegister(m.collectors...)
	}
	return m
}

// Unregister removes the metrics from their registry, so a process can run the
// controller again (tests do) without duplicate registrations.
func (m *Metrics) Unregister() {
	if m == nil || m.reg == nil {
		return
	}
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

func (m *Metrics) update() {
	if m != nil {
		m.updates.Inc()
	}
}

func (m *Metrics) updateError() {
	if m != nil {
		m.updateErrors.Inc()
	}
}

func (m *Metrics) configLoaded(stale bool) {
	if m != nil {
		m.config.Set(stale)
	}
}

var (
	descTotal  = poolDesc("addresses_total", "Number of usable IP addresses, per pool")
	descTotal4 = poolDesc("ipv4_addresses_total", "Number of usable IPv4 addresses, per pool")
	descTotal6 = poolDesc("ipv6_addresses_total", "Number of usable IPv6 addresses, per pool")
	descInUse  = poolDesc("addresses_in_use_total", "Number of IP addresses in use, per pool")
	descInUse4 = poolDesc("ipv4_addresses_in_use_total", "Number of IPv4 addresses in use, per pool")
	descInUse6 = poolDesc("ipv6_addresses_in_use_total", "Number of IPv6 addresses in use, per pool")
)

func poolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName("metallb", "allocator", name), help, []string{"pool"}, nil)
}

// poolCollector reads the allocator's counters at scrape time, so the allocator
// itself carries no metrics code and the hot path pays nothing for them.
type poolCollector struct{ state *State }

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTotal, descTotal4, descTotal6, descInUse, descInUse4, descInUse6} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, name := range c.state.PoolNames() {
		st, ok := c.state.PoolStats(name)
		if !ok {
			continue
		}
		total4 := float64(st.AssignedIPv4 + st.AvailableIPv4)
		total6 := float64(st.AssignedIPv6) + float64(st.AvailableIPv6)
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, name)
		}
		gauge(descTotal, total4+total6)
		gauge(descTotal4, total4)
		gauge(descTotal6, total6)
		gauge(descInUse, float64(st.AssignedIPv4)+float64(st.AssignedIPv6))
		gauge(descInUse4, float64(st.AssignedIPv4))
		gauge(descInUse6, float64(st.AssignedIPv6))
	}
}
