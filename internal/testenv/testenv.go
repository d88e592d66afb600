// Package testenv starts a real kube-apiserver and etcd for tests, from the binaries
// that hack/kube-binaries.sh builds from the Go module proxy and caches. Tests that
// need the API server call Start; when the binaries cannot be had, they skip with a
// message that says how to get them, never silently pass.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/ironlb/ironlb/internal/scheme"
)

// RepoRoot finds the repository root (the directory holding go.mod) from the
// working directory, which `go test` sets to the package's directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if b, _ := os.ReadFile(filepath.Join(dir, "go.mod")); bytes.HasPrefix(b, []byte("module github.com/ironlb/ironlb\n")) {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no ironlb go.mod above the working directory")
		}
		dir = parent
	}
}

var (
	assetsOnce sync.Once
	assetsDir  string
	assetsErr  error
)

// Assets returns the directory with kube-apiserver, etcd and kubectl: KUBEBUILDER_ASSETS
// when set, else the output of hack/kube-binaries.sh (which builds them once and caches).
func Assets() (string, error) {
	assetsOnce.Do(func() {
		if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
			assetsDir = dir
			return
		}
		root, err := RepoRoot()
		if err != nil {
			assetsErr = err
			return
		}
		cmd := exec.Command("bash", filepath.Join(root, "hack", "kube-binaries.sh"))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			assetsErr = fmt.Errorf("hack/kube-binaries.sh failed: %v\n%s", err, stderr.String())
			return
		}
		assetsDir = strings.TrimSpace(string(out))
	})
	return assetsDir, assetsErr
}

// Scheme holds the core Kubernetes types and the metallb.io API.
func Scheme() *runtime.Scheme { return scheme.New() }

// Env is a running control plane.
type Env struct {
	*envtest.Environment
	Config *rest.Config
}

// New configures (but does not start) a control plane with ironlb's CRDs installed.
func New() (*Env, error) {
	assets, err := Assets()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		Scheme:                Scheme(),
	}
	// The API server advertises 127.0.0.1; without this it keeps trying to reconcile
	// the kubernetes Service's endpoints onto that address and slows every stop.
	api := env.ControlPlane.GetAPIServer().Configure()
	api.Set("endpoint-reconciler-type", "none")
	// Dual-stack cluster IPs from documentation ranges, so dual-stack Services can be
	// tested; nothing is ever sent to these addresses.
	api.Set("service-cluster-ip-range", "198.18.0.0/16,2001:db8:ffff::/112")
	return &Env{Environment: env}, nil
}

// Start starts a control plane for a test binary. Call from TestMain; stop with Stop.
func Start() (*Env, error) {
	env, err := New()
	if err != nil {
		return nil, err
	}
	cfg, err := env.Environment.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	// Tests create hundreds of objects quickly; the client-side limiter (5 QPS by
	// default) would measure itself, not the code under test.
	cfg.QPS = 1000
	cfg.Burst = 2000
	env.Config = cfg
	return env, nil
}

// Main is a TestMain body: it starts a control plane, runs the tests and stops it.
// When the binaries cannot be built it prints why and runs the tests with env == nil,
// so each test can skip with that reason.
func Main(m *testing.M, env **Env) int {
	e, err := Start()
	if err != nil {
		startErr = err
		fmt.Fprintf(os.Stderr, "testenv: no API server for these tests: %v\n", err)
		return m.Run()
	}
	*env = e
	code := m.Run()
	if err := e.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: stopping control plane: %v\n", err)
	}
	return code
}

var startErr error

// Require skips the test when no API server could be started, saying why.
func Require(t testing.TB, env *Env) {
	t.Helper()
	if env == nil {
		if os.Getenv("IRONLB_REQUIRE_APISERVER") != "" {
			t.Fatalf("no API server (IRONLB_REQUIRE_APISERVER is set): %v", startErr)
		}
		t.Skipf("no API server: %v (run hack/kube-binaries.sh, or set KUBEBUILDER_ASSETS)", startErr)
	}
}
