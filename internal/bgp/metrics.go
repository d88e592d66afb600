package bgp

import (
	"context"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/prometheus/client_golang/prometheus"
)

// MetalLB's metric names and labels, so its dashboards keep working: the
// native speaker's metallb_bgp_* (label peer = "addr:port") and the FRR
// mode's metallb_bfd_* (label peer = address).
var (
	descSessionUp = prometheus.NewDesc("metallb_bgp_session_up",
		"BGP session state (1 is up, 0 is down)", []string{"peer"}, nil)
	descUpdates = prometheus.NewDesc("metallb_bgp_updates_total",
		"Number of BGP UPDATE messages sent", []string{"peer"}, nil)
	descAnnounced = prometheus.NewDesc("metallb_bgp_announced_prefixes_total",
		"Number of prefixes currently being advertised on the BGP session", []string{"peer"}, nil)
	descPending = prometheus.NewDesc("metallb_bgp_pending_prefixes_total",
		"Number of prefixes that should be advertised on the BGP session", []string{"peer"}, nil)
	descBFDUp = prometheus.NewDesc("metallb_bfd_session_up",
		"BFD session state (1 is up, 0 is down)", []string{"peer"}, nil)
	descBFDIn = prometheus.NewDesc("metallb_bfd_control_packet_input",
		"Number of received BFD control packets", []string{"peer"}, nil)
	descBFDOut = prometheus.NewDesc("metallb_bfd_control_packet_output",
		"Number of sent BFD control packets", []string{"peer"}, nil)
	descBFDDown = prometheus.NewDesc("metallb_bfd_session_down_events",
		"Number of times the BFD session went down", []string{"peer"}, nil)
)

// Collector exports the engine's sessions as Prometheus metrics, read from
// GoBGP at scrape time (no bookkeeping on the hot path).
type Collector struct{ e *Engine }

// Collector returns a prometheus.Collector for the engine.
func (e *Engine) Collector() *Collector { return &Collector{e: e} }

func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descSessionUp, descUpdates, descAnnounced, descPending, descBFDUp, descBFDIn, descBFDOut, descBFDDown} {
		ch <- d
	}
}

func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.e.mu.Lock()
	counts := map[string]int{}
	ports := map[string]uint16{}
	for k, m := range c.e.plan {
		counts[k] = len(m)
	}
	for k, p := range c.e.peers {
		ports[k] = p.Port
	}
	c.e.mu.Unlock()
	_ = c.e.srv.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) {
		addr := p.GetConf().GetNeighborAddress()
		port := ports[addr]
		if port == 0 {
			port = 179
		}
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return
		}
		label := netip.AddrPortFrom(a, port).String()
		up := p.GetState().GetSessionState() == api.PeerState_SESSION_STATE_ESTABLISHED
		ch <- prometheus.MustNewConstMetric(descSessionUp, prometheus.GaugeValue, b2f(up), label)
		ch <- prometheus.MustNewConstMetric(descUpdates, prometheus.CounterValue, float64(p.GetState().GetMessages().GetSent().GetUpdate()), label)
		announced := 0
		if up {
			announced = counts[addr]
		}
		ch <- prometheus.MustNewConstMetric(descAnnounced, prometheus.GaugeValue, float64(announced), label)
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(counts[addr]-announced), label)
	})
	c.e.srv.ListBfdPeer(ctx, func(addr string, s *api.BfdPeerState) {
		ch <- prometheus.MustNewConstMetric(descBFDUp, prometheus.GaugeValue, b2f(s.GetSessionState() == api.BfdSessionState_BFD_SESSION_STATE_UP), addr)
		ch <- prometheus.MustNewConstMetric(descBFDIn, prometheus.CounterValue, float64(s.GetBfdAsync().GetReceivedPackets()), addr)
		ch <- prometheus.MustNewConstMetric(descBFDOut, prometheus.CounterValue, float64(s.GetBfdAsync().GetTransmittedPackets()), addr)
		ch <- prometheus.MustNewConstMetric(descBFDDown, prometheus.CounterValue, float64(s.GetFailureTransitions()), addr)
	})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
