package speaker

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ironlb/ironlb/internal/l2"
	"github.com/ironlb/ironlb/internal/liveness"
)

type statsAnnouncer struct{ Announcer }

func (statsAnnouncer) Stats() map[netip.Addr]l2.Counters {
	return map[netip.Addr]l2.Counters{netip.MustParseAddr("192.0.2.1"): {RequestsReceived: 3, ResponsesSent: 2, GratuitousSent: 6}}
}

type statsMember struct{ Membership }

func (statsMember) Stats() liveness.Stats { return liveness.Stats{Sent: 10, RejectedMAC: 1} }
func (statsMember) Snapshot() liveness.View {
	return liveness.View{InQuorum: true, Alive: []string{"a", "b"}, Expected: 3}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg, statsAnnouncer{})
	m.setMembership(statsMember{})
	res := &Result{Services: []ServiceResult{
		{Namespace: "ns", Name: "a", IPs: ips("192.0.2.1", "2001:db8::1"), Node: "me"},
		{Namespace: "ns", Name: "b", IPs: ips("192.0.2.2"), Node: "other", Reason: ReasonNotOwner},
	}}
	m.setAnnounced("me", res)
	m.observeTakeover(0.002)
	got := gather(t, reg)
	for _, want := range []string{
		`metallb_speaker_announced{ip="192.0.2.1",node="me",protocol="layer2",service="ns/a"} 1`,
		`metallb_speaker_announced{ip="2001:db8::1",node="me",protocol="layer2",service="ns/a"} 1`,
		`metallb_layer2_requests_received{ip="192.0.2.1"} 3`,
		`metallb_layer2_responses_sent{ip="192.0.2.1"} 2`,
		`metallb_layer2_gratuitous_sent{ip="192.0.2.1"} 6`,
		`ironlb_liveness_heartbeats_sent_total 10`,
		`ironlb_liveness_rejected_total{reason="mac"} 1`,
		`ironlb_liveness_in_quorum 1`,
		`ironlb_liveness_alive_members 2`,
		`ironlb_liveness_expected_members 3`,
		`ironlb_layer2_takeover_seconds_count 1`,
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing %s", want)
		}
	}
	for _, l := range got {
		if strings.Contains(l, "ns/b") {
			t.Errorf("not announced but exported: %s", l)
		}
	}
	// Withdrawing removes the series.
	m.setAnnounced("me", &Result{})
	for _, l := range gather(t, reg) {
		if strings.HasPrefix(l, "metallb_speaker_announced") {
			t.Errorf("left after withdrawal: %s", l)
		}
	}
}

// gather renders every sample as `name{labels} value`.
func gather(t *testing.T, reg *prometheus.Registry) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var lbls []string
			for _, l := range m.GetLabel() {
				lbls = append(lbls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			name := mf.GetName()
			if len(lbls) > 0 {
				name += "{" + strings.Join(lbls, ",") + "}"
			}
			switch {
			case m.Gauge != nil:
				out = append(out, fmt.Sprintf("%s %g", name, m.GetGauge().GetValue()))
			case m.Counter != nil:
				out = append(out, fmt.Sprintf("%s %g", name, m.GetCounter().GetValue()))
			case m.Histogram != nil:
				out = append(out, fmt.Sprintf("%s_count %d", name, m.GetHistogram().GetSampleCount()))
			}
		}
	}
	return out
}
