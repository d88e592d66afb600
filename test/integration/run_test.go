package integration

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/ironlb/ironlb/internal/app/controllerapp"
)

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	// An address of its own in 127.0.0.0/8: ports picked on 127.0.0.1 get
	// taken between this check and the real bind by the ephemeral source
	// ports of the many API connections other test packages open there.
	l, err := net.Listen("tcp", fmt.Sprintf("127.77.%d.%d:0", rand.IntN(250)+1, rand.IntN(250)+1))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func httpGet(url string) (int, string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// The binary's real entry point: probes answer, and metrics carry MetalLB's names.
func TestRunServesProbesAndMetalLBMetrics(t *testing.T) {
	f := newFixture(t)
	f.pool("metrics", []string{"192.0.2.0/30"})
	probe, metrics := freeLoopbackAddr(t), freeLoopbackAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- controllerapp.Run(ctx, env.Config, controllerapp.Options{
			Namespace: f.cfgNS, LBClass: f.lbClass, ProbeAddr: probe, MetricsAddr: metrics, LeaderElect: true, RepeatedInProcess: true, LeaseName: "run-test",
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	f.service("m")
	f.waitIPs("m", "192.0.2.0")
	for _, path := range []string{"/healthz", "/readyz"} {
		f.eventually(path, func() (bool, error) {
			code, body, err := httpGet("http://" + probe + path)
			return code == http.StatusOK, fmt.Errorf("%d %q %v", code, body, err)
		})
	}
	var body string
	f.eventually("metrics", func() (bool, error) {
		var err error
		_, body, err = httpGet("http://" + metrics + "/metrics")
		return strings.Contains(body, `metallb_allocator_addresses_in_use_total{pool="metrics"} 1`), err
	})
	for _, name := range []string{
		`metallb_allocator_addresses_total{pool="metrics"} 4`,
		`metallb_allocator_ipv4_addresses_total{pool="metrics"} 4`,
		`metallb_allocator_ipv6_addresses_in_use_total{pool="metrics"} 0`,
		"metallb_k8s_client_updates_total",
		"metallb_k8s_client_config_loaded_bool 1",
		"metallb_k8s_client_config_stale_bool 0",
	} {
		if !strings.Contains(body, name) {
			t.Errorf("metrics lack %s", name)
		}
	}
}
