// Package configmetrics holds the two gauges both ironlb binaries export about their
// configuration, under MetalLB's names so its alert rules (MetalLBStaleConfig,
// MetalLBConfigNotLoaded) keep working.
package configmetrics

import "github.com/prometheus/client_golang/prometheus"

// Gauges are metallb_k8s_client_config_loaded_bool and _config_stale_bool.
type Gauges struct {
	Loaded, Stale prometheus.Gauge
}

// New returns unregistered gauges; register Collectors().
func New() *Gauges {
	return &Gauges{
		Loaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "metallb", Subsystem: "k8s_client", Name: "config_loaded_bool",
			Help: "1 if the MetalLB configuration was successfully loaded at least once.",
		}),
		Stale: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "metallb", Subsystem: "k8s_client", Name: "config_stale_bool",
			Help: "1 if running on a stale configuration, because part of the latest configuration failed to load.",
		}),
	}
}

// Collectors lists the gauges for registration.
func (g *Gauges) Collectors() []prometheus.Collector {
	return []prometheus.Collector{g.Loaded, g.Stale}
}

// Set records a load: loaded from now on, stale when part of the configuration was
// refused and the last good version of it is still in use.
func (g *Gauges) Set(stale bool) {
	if g == nil {
		return
	}
	g.Loaded.Set(1)
	if stale {
		g.Stale.Set(1)
	} else {
		g.Stale.Set(0)
	}
}
