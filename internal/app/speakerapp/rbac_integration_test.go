package speakerapp_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/speaker"
	"github.com/ironlb/ironlb/internal/testenv"
)

// TestShippedRBACIsEnough runs a speaker as the ServiceAccount of
// config/speaker/rbac.yaml (applied to the test's namespace), in a two-node
// cluster whose other node's speaker has crashed (its liveness annotation is
// left over), so the tie-breaker Lease is used too: everything the speaker does must be allowed by the shipped,
// least-privilege RBAC.
func TestShippedRBACIsEnough(t *testing.T) {
	f := newFixture(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "config", "speaker", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Point the manifests at this test's namespace, and give cluster-scoped
	// objects test-unique names.
	raw = bytes.ReplaceAll(raw, []byte("namespace: metallb-system"), []byte("namespace: "+f.ns))
	raw = bytes.ReplaceAll(raw, []byte("ironlb:speaker"), []byte(fmt.Sprintf("ironlb:speaker-t%d", f.n)))
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var u unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatal(err)
		}
		if err := f.c.Create(f.ctx, &u); err != nil {
			t.Fatalf("applying %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		if u.GetNamespace() == "" {
			t.Cleanup(func() { _ = f.c.Delete(t.Context(), &u) })
		}
	}

	a, b := fmt.Sprintf("t%d-solo", f.n), fmt.Sprintf("t%d-nospeaker", f.n)
	f.node(a, "127.0.0.23", nil)
	f.node(b, "127.0.0.24", nil)
	f.annotate(b, speaker.LivenessAnnotation, fmt.Sprintf("127.0.0.24:%d", f.port)) // a member that never answers
	pool := &metallbv1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "p"}, Spec: metallbv1beta1.IPAddressPoolSpec{Addresses: []string{"203.0.113.0/24"}}}
	if err := f.c.Create(f.ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Create(f.ctx, &metallbv1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "all"}}); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("203.0.113.5")
	f.lbService("web", ip.String(), a)

	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + f.ns + ":speaker",
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + f.ns, "system:authenticated"},
	}
	sp := f.startWith(cfg, a, "127.0.0.23")
	f.waitOwner(ip, sp, []*speakerInst{sp}, "web", 1)
	if v, ok := f.nodeAnnotation(a); !ok || v != "eth0" {
		t.Fatalf("annotation %q (present %v)", v, ok)
	}
	f.eventually("ConfigurationState to be Valid", func() (bool, error) {
		var cs metallbv1beta1.ConfigurationState
		err := f.c.Get(f.ctx, client.ObjectKey{Namespace: f.ns, Name: speaker.ConfigurationStateName(a)}, &cs)
		return err == nil && cs.Status.Result == metallbv1beta1.ConfigurationStateResultValid, err
	})
	if st := sp.member.Load().Stats(); st.TieBreakerWins == 0 {
		t.Fatalf("tie breaker never won: %+v", st)
	}
	if v, _ := f.annotation(b, speaker.LivenessAnnotation); v == "" {
		t.Fatal("the silent member of a set of two was evicted; the survivor must keep the Lease instead")
	}
	if v, _ := f.annotation(a, speaker.LivenessAnnotation); v != fmt.Sprintf("127.0.0.23:%d", f.port) {
		t.Fatalf("own liveness annotation %q", v)
	}
	sp.shutdown(t)
	f.eventually("the status to be deleted on stop", func() (bool, error) {
		return len(f.statuses()) == 0, nil
	})
	if v, ok := f.annotation(a, speaker.LivenessAnnotation); !ok || v != "" {
		t.Fatalf("liveness annotation after a graceful stop: %q (present %v), want empty", v, ok)
	}
}
