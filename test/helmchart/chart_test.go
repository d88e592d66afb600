// Package helmchart tests charts/ironlb with Helm's own Go packages (no helm
// binary): lint, render, compare with config/default (built by the real kubectl's
// kustomize), and server-side dry-run apply of the rendered objects to a real
// kube-apiserver. It is a package of its own so only it pays Helm's compile time.
package helmchart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/internal/testenv"
)

const (
	chartDir  = "../../charts/ironlb"
	namespace = "metallb-system"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	os.Exit(testenv.Main(m, &env))
}

// everything turns on every optional object of the chart.
var everything = map[string]any{
	"prometheus": map[string]any{
		"serviceMonitor": map[string]any{"enabled": true, "additionalLabels": map[string]any{"release": "prom"}},
		"prometheusRule": map[string]any{"enabled": true},
	},
	"grafanaDashboard":  map[string]any{"enabled": true},
	"loadBalancerClass": "ironlb.io/test",
	"controller":        map[string]any{"image": map[string]any{"tag": "v9.9.9"}, "logLevel": "debug"},
}

func TestLint(t *testing.T) {
	cases := map[string]map[string]any{
		"default values lint clean":        nil,
		"every option enabled lints clean": everything,
	}
	for name, vals := range cases {
		t.Run(name, func(t *testing.T) {
			res := lint.RunAll(chartDir, vals, namespace)
			for _, m := range res.Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				} else {
					t.Logf("helm lint: %s", m)
				}
			}
		})
	}
}

// render is `helm template`: the CRDs of crds/ and the rendered templates.
func render(t *testing.T, vals map[string]any) []*unstructured.Unstructured {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "ironlb", Namespace: namespace, IsInstall: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		t.Fatalf("rendering the chart: %v", err)
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var objs []*unstructured.Unstructured
	for _, c := range ch.CRDObjects() {
		objs = append(objs, decode(t, c.Filename, c.File.Data)...)
	}
	for _, n := range names {
		if strings.HasSuffix(n, ".tpl") || strings.HasSuffix(n, "NOTES.txt") {
			continue
		}
		objs = append(objs, decode(t, n, []byte(files[n]))...)
	}
	return objs
}

func decode(t *testing.T, name string, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: %v", name, err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

func key(o *unstructured.Unstructured) string {
	return fmt.Sprintf("%s/%s %s", o.GetKind(), o.GetNamespace(), o.GetName())
}

// kustomize builds config/default with the real kubectl built by hack/kube-binaries.sh.
func kustomize(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	assets, err := testenv.Assets()
	if err != nil {
		if os.Getenv("IRONLB_REQUIRE_APISERVER") != "" {
			t.Fatal(err)
		}
		t.Skipf("no kubectl: %v", err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(assets, "kubectl"), "kustomize", filepath.Join(root, "config", "default")).Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v", err)
	}
	return decode(t, "config/default", out)
}

// TestSameObjectsAsKustomize: with default values the chart makes exactly
// config/default's objects (the Namespace aside: Helm installs into an existing or
// --create-namespace one), with the same RBAC and the same workload shape.
func TestSameObjectsAsKustomize(t *testing.T) {
	want := map[string]*unstructured.Unstructured{}
	for _, o := range kustomize(t) {
		if o.GetKind() != "Namespace" {
			want[key(o)] = o
		}
	}
	got := map[string]*unstructured.Unstructured{}
	for _, o := range render(t, nil) {
		got[key(o)] = o
	}
	for k := range want {
		if got[k] == nil {
			t.Errorf("config/default has %s, the chart does not", k)
		}
	}
	for k := range got {
		if want[k] == nil {
			t.Errorf("the chart makes %s, config/default does not", k)
		}
	}
	fields := map[string][][]string{
		"ClusterRole":              {{"rules"}},
		"Role":                     {{"rules"}},
		"ClusterRoleBinding":       {{"roleRef"}, {"subjects"}},
		"RoleBinding":              {{"roleRef"}, {"subjects"}},
		"CustomResourceDefinition": {{"spec"}},
		"Deployment": {
			{"spec", "selector"}, {"spec", "replicas"},
			{"spec", "template", "spec", "serviceAccountName"},
			{"spec", "template", "spec", "securityContext"},
		},
		"DaemonSet": {
			{"spec", "selector"}, {"spec", "updateStrategy"},
			{"spec", "template", "spec", "serviceAccountName"},
			{"spec", "template", "spec", "hostNetwork"},
			{"spec", "template", "spec", "tolerations"},
			{"spec", "template", "spec", "nodeSelector"},
			{"spec", "template", "spec", "volumes"},
		},
	}
	containerFields := []string{"ports", "securityContext", "livenessProbe", "readinessProbe", "resources", "env", "volumeMounts"}
	for k, w := range want {
		g := got[k]
		if g == nil {
			continue
		}
		for _, path := range fields[w.GetKind()] {
			wv, _, _ := unstructured.NestedFieldNoCopy(w.Object, path...)
			gv, _, _ := unstructured.NestedFieldNoCopy(g.Object, path...)
			if !reflect.DeepEqual(wv, gv) {
				t.Errorf("%s: .%s differs:\nconfig/default: %v\nchart:          %v", k, strings.Join(path, "."), wv, gv)
			}
		}
		if w.GetKind() == "Deployment" || w.GetKind() == "DaemonSet" {
			wc, _, _ := unstructured.NestedSlice(w.Object, "spec", "template", "spec", "containers")
			gc, _, _ := unstructured.NestedSlice(g.Object, "spec", "template", "spec", "containers")
			if len(wc) != 1 || len(gc) != 1 {
				t.Fatalf("%s: %d containers in config/default, %d in the chart; want 1 and 1", k, len(wc), len(gc))
			}
			for _, f := range containerFields {
				wv, gv := wc[0].(map[string]any)[f], gc[0].(map[string]any)[f]
				if !reflect.DeepEqual(wv, gv) {
					t.Errorf("%s: container .%s differs:\nconfig/default: %v\nchart:          %v", k, f, wv, gv)
				}
			}
		}
	}
}

// TestCRDsAreTheGeneratedOnes: crds/ is a copy of config/crd/bases (make chart-crds).
func TestCRDsAreTheGeneratedOnes(t *testing.T) {
	gen, err := filepath.Glob("../../config/crd/bases/*.yaml")
	if err != nil || len(gen) == 0 {
		t.Fatalf("no generated CRDs: %v", err)
	}
	inChart, _ := filepath.Glob(chartDir + "/crds/*.yaml")
	if len(inChart) != len(gen) {
		t.Errorf("charts/ironlb/crds has %d files, config/crd/bases %d: run make chart-crds", len(inChart), len(gen))
	}
	for _, g := range gen {
		a, _ := os.ReadFile(g)
		b, err := os.ReadFile(filepath.Join(chartDir, "crds", filepath.Base(g)))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("charts/ironlb/crds/%s differs from config/crd/bases: run make chart-crds", filepath.Base(g))
		}
	}
}

func TestValues(t *testing.T) {
	objs := render(t, everything)
	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		byKey[key(o)] = o
	}
	args := func(k string) []any {
		o := byKey[k]
		if o == nil {
			t.Fatalf("no %s rendered", k)
		}
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		a, _ := cs[0].(map[string]any)["args"].([]any)
		return a
	}
	image := func(k string) string {
		cs, _, _ := unstructured.NestedSlice(byKey[k].Object, "spec", "template", "spec", "containers")
		return cs[0].(map[string]any)["image"].(string)
	}
	has := func(list []any, s string) bool {
		for _, x := range list {
			if x == s {
				return true
			}
		}
		return false
	}
	cases := map[string]struct {
		ok   bool
		what string
	}{
		"controller.image.tag sets the controller's tag": {image("Deployment/metallb-system controller") == "ghcr.io/ironlb/ironlb-controller:v9.9.9", image("Deployment/metallb-system controller")},
		"an empty tag means the chart's appVersion":      {strings.HasSuffix(image("DaemonSet/metallb-system speaker"), ":dev"), image("DaemonSet/metallb-system speaker")},
		"controller.logLevel reaches --log-level":        {has(args("Deployment/metallb-system controller"), "--log-level=debug"), fmt.Sprint(args("Deployment/metallb-system controller"))},
		"loadBalancerClass reaches both binaries":        {has(args("Deployment/metallb-system controller"), "--lb-class=ironlb.io/test") && has(args("DaemonSet/metallb-system speaker"), "--lb-class=ironlb.io/test"), ""},
		"the release namespace is the config namespace":  {has(args("Deployment/metallb-system controller"), "--namespace=metallb-system"), ""},
		"prometheusRule.enabled renders the rules":       {byKey["PrometheusRule/metallb-system ironlb"] != nil, ""},
		"serviceMonitor.enabled monitors both":           {byKey["ServiceMonitor/metallb-system ironlb-controller"] != nil && byKey["ServiceMonitor/metallb-system ironlb-speaker"] != nil, ""},
		"grafanaDashboard.enabled renders the dashboard": {byKey["ConfigMap/metallb-system ironlb-grafana-dashboard"] != nil, ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if !tc.ok {
				t.Errorf("not so: %s", tc.what)
			}
		})
	}
	t.Run("speaker.enabled=false drops the speaker and only it", func(t *testing.T) {
		for _, o := range render(t, map[string]any{"speaker": map[string]any{"enabled": false}}) {
			if o.GetName() == "speaker" || o.GetName() == "ironlb:speaker" {
				t.Errorf("%s rendered with speaker.enabled=false", key(o))
			}
		}
	})
	t.Run("the PrometheusRule holds the promtool-tested rules unchanged", func(t *testing.T) {
		raw, err := os.ReadFile(chartDir + "/files/prometheus-rules.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var file map[string]any
		if err := yaml.Unmarshal(raw, &file); err != nil {
			t.Fatal(err)
		}
		groups, _, _ := unstructured.NestedSlice(byKey["PrometheusRule/metallb-system ironlb"].Object, "spec", "groups")
		// Compare through JSON so both sides have the same number types.
		want, _ := yaml.Marshal(file["groups"])
		got, _ := yaml.Marshal(groups)
		if !bytes.Equal(want, got) {
			t.Errorf("PrometheusRule groups differ from files/prometheus-rules.yaml:\n%s\nvs\n%s", got, want)
		}
	})
}

// monitoringCRDs are minimal stand-ins for the Prometheus Operator's CRDs, so the
// API server accepts ServiceMonitor and PrometheusRule objects in the dry run.
func monitoringCRDs() []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, k := range []struct{ kind, plural string }{{"ServiceMonitor", "servicemonitors"}, {"PrometheusRule", "prometheusrules"}} {
		out = append(out, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiextensions.k8s.io/v1",
			"kind":       "CustomResourceDefinition",
			"metadata":   map[string]any{"name": k.plural + ".monitoring.coreos.com"},
			"spec": map[string]any{
				"group": "monitoring.coreos.com",
				"scope": "Namespaced",
				"names": map[string]any{"kind": k.kind, "plural": k.plural, "singular": strings.ToLower(k.kind), "listKind": k.kind + "List"},
				"versions": []any{map[string]any{
					"name": "v1", "served": true, "storage": true,
					"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
				}},
			},
		}})
	}
	return out
}

// TestServerSideDryRun applies everything the chart renders (every option on) to
// the real API server with server-side apply and dryRun=All: schema, RBAC
// references and field validation as a real install would meet them.
func TestServerSideDryRun(t *testing.T) {
	testenv.Require(t, env)
	ctx := context.Background()
	c, err := client.New(env.Config, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	if err := c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, crd := range monitoringCRDs() {
		if err := c.Create(ctx, crd); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	for _, o := range render(t, everything) {
		o := o
		// A freshly created CRD takes a moment to be served: retry the apply until it is.
		var last error
		for i := 0; i < 100; i++ {
			last = c.Patch(ctx, o.DeepCopy(), client.Apply, client.DryRunAll, client.FieldOwner("helm"), client.ForceOwnership)
			if last == nil || !strings.Contains(last.Error(), "no matches for kind") {
				break
			}
			waitABit(ctx)
		}
		if last != nil {
			t.Errorf("server-side dry-run apply of %s: %v", key(o), last)
		}
	}
}
