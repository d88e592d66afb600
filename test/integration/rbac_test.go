package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/app/controllerapp"
	"github.com/ironlb/ironlb/internal/controller/speakersecret"
	"github.com/ironlb/ironlb/internal/testenv"
)

// The controller run as the ServiceAccount of config/controller/rbac.yaml (pointed at
// this test's namespace) does everything it needs: allocate, write status and the
// annotation, record events, write pool status and ConfigurationState, create the
// speakers' Secret, hold its Lease. RBAC mistakes are a top install failure; this
// catches them before a user does.
func TestShippedControllerRBACIsEnough(t *testing.T) {
	f := newFixture(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "config", "controller", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	suffix := strings.TrimPrefix(f.cfgNS, "lbcfg-")
	raw = bytes.ReplaceAll(raw, []byte("namespace: metallb-system"), []byte("namespace: "+f.cfgNS))
	raw = bytes.ReplaceAll(raw, []byte("ironlb:controller"), []byte("ironlb:controller-t"+suffix))
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := f.c.Create(f.ctx, &u); err != nil {
			t.Fatalf("applying %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		if u.GetNamespace() == "" {
			t.Cleanup(func() { _ = f.c.Delete(t.Context(), &u) })
		}
	}
	f.pool("rbac", []string{"192.0.2.0/30"})

	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + f.cfgNS + ":controller",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + f.cfgNS, "system:authenticated"},
	}
	ctx, cancel := contextWithCancel()
	done := make(chan error, 1)
	go func() {
		done <- controllerapp.Run(ctx, cfg, controllerapp.Options{Namespace: f.cfgNS, LBClass: f.lbClass, LeaderElect: true, RepeatedInProcess: true, LeaseName: "rbac-test"})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	}()

	f.service("web")
	f.waitIPs("web", "192.0.2.0")
	f.waitEvent(f.ns, "web", corev1.EventTypeNormal, "IPAllocated", "192.0.2.0")
	if got := f.get("web").Annotations["metallb.io/ip-allocated-from-pool"]; got != "rbac" {
		t.Fatalf("pool annotation %q", got)
	}
	f.eventually("pool status", func() (bool, error) {
		var p metallbv1beta1.IPAddressPool
		err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.cfgNS, Name: "rbac"}, &p)
		return err == nil && p.Status.AssignedIPv4 == 1, fmt.Errorf("%v %+v", err, p.Status)
	})
	f.eventually("ConfigurationState", func() (bool, error) {
		var cs metallbv1beta1.ConfigurationState
		err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.cfgNS, Name: "controller"}, &cs)
		return err == nil && cs.Status.Result == "Valid", err
	})
	f.eventually("speakers' Secret", func() (bool, error) {
		var s corev1.Secret
		err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.cfgNS, Name: speakersecret.Name}, &s)
		return err == nil, err
	})
}
