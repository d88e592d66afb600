// Package crd_test checks the metallb.io CRDs against a real kube-apiserver:
// MetalLB's sample manifests are accepted unchanged, objects that MetalLB's
// webhooks reject for reasons visible on one object are rejected at
// admission with a message naming the field, and a deprecated v1beta1
// BGPPeer can be read back as v1beta2.
//
// The apiserver and etcd come from KUBEBUILDER_ASSETS, or else from
// hack/kube-binaries.sh; without either the tests are skipped.
package crd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
)

const ns = "metallb-system"

var (
	k8s       client.Client
	skipWhy   string
	repoRoot  = filepath.Join("..", "..")
	testScope = context.Background()
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	assets, err := binaryAssets()
	if err != nil {
		skipWhy = err.Error()
		return m.Run()
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	env.ControlPlane.GetAPIServer().Configure().Set("endpoint-reconciler-type", "none")
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting kube-apiserver from %s: %v\n", assets, err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping envtest: %v\n", err)
		}
	}()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, v1beta1.AddToScheme, v1beta2.AddToScheme} {
		if err := add(scheme); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	k8s, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := k8s.Create(testScope, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// binaryAssets finds a directory with kube-apiserver and etcd.
func binaryAssets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	script := filepath.Join(repoRoot, "hack", "kube-binaries.sh")
	var stderr bytes.Buffer
	cmd := exec.Command("bash", script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS is unset and %s failed (%v): %s", script, err, lastLines(stderr.String(), 5))
	}
	dir := strings.TrimSpace(lastLines(string(out), 1))
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s printed %q, which has no %s", script, dir, bin)
		}
	}
	return dir, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func needAPIServer(t *testing.T) {
	t.Helper()
	if k8s == nil {
		t.Skipf("no kube-apiserver to test against: %s", skipWhy)
	}
}

// parse turns one YAML document into an unstructured object in the test namespace.
func parse(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("bad test YAML: %v\n%s", err, doc)
	}
	u.SetNamespace(ns)
	return u
}

func readSamples(t *testing.T, file string) []*unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "api", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s: %v", file, err)
		}
		if m == nil {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs
}

// TestSamplesAccepted creates every MetalLB sample as written and checks
// that reading it back gives the same spec, plus MetalLB's defaults.
func TestSamplesAccepted(t *testing.T) {
	needAPIServer(t)
	files := []string{"ipaddresspools.yaml", "l2advertisements.yaml", "bgpadvertisements.yaml", "bgppeers.yaml", "communities.yaml", "bfdprofiles.yaml"}
	for _, file := range files {
		for _, obj := range readSamples(t, file) {
			t.Run(file+"/"+obj.GetKind()+"/"+obj.GetName(), func(t *testing.T) {
				want := obj.DeepCopy()
				if err := k8s.Create(testScope, obj); err != nil {
					t.Fatalf("create: %v", err)
				}
				t.Cleanup(func() { _ = k8s.Delete(testScope, obj) })
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(want.GroupVersionKind())
				if err := k8s.Get(testScope, client.ObjectKeyFromObject(obj), got); err != nil {
					t.Fatal(err)
				}
				wantSpec, _, _ := unstructured.NestedMap(want.Object, "spec")
				gotSpec, _, _ := unstructured.NestedMap(got.Object, "spec")
				for k, v := range wantSpec {
					if !sameJSON(gotSpec[k], v) {
						t.Errorf("spec.%s: stored %#v, sent %#v", k, gotSpec[k], v)
					}
				}
				for k, v := range gotSpec {
					if _, sent := wantSpec[k]; !sent {
						t.Logf("default: spec.%s = %v", k, v)
					}
				}
			})
		}
	}
}

// TestDefaults checks MetalLB's defaults are applied by the API server.
func TestDefaults(t *testing.T) {
	needAPIServer(t)
	pool := &v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: ns},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: []string{"10.200.0.0/24"}},
	}
	mustCreate(t, pool)
	if pool.Spec.AutoAssign == nil || !*pool.Spec.AutoAssign {
		t.Errorf("IPAddressPool autoAssign = %v, want true", pool.Spec.AutoAssign)
	}

	adv := &v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: ns}}
	mustCreate(t, adv)
	if adv.Spec.AggregationLength == nil || *adv.Spec.AggregationLength != 32 {
		t.Errorf("BGPAdvertisement aggregationLength = %v, want 32", adv.Spec.AggregationLength)
	}
	if adv.Spec.AggregationLengthV6 == nil || *adv.Spec.AggregationLengthV6 != 128 {
		t.Errorf("BGPAdvertisement aggregationLengthV6 = %v, want 128", adv.Spec.AggregationLengthV6)
	}

	peer := &v1beta2.BGPPeer{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: ns},
		Spec:       v1beta2.BGPPeerSpec{MyASN: 64500, ASN: 64501, Address: "10.0.0.1"},
	}
	mustCreate(t, peer)
	if peer.Spec.Port != 179 {
		t.Errorf("BGPPeer peerPort = %d, want 179", peer.Spec.Port)
	}
}

// sameJSON compares two decoded values by their JSON form, so that 50 and 50.0 are equal.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

func mustCreate(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8s.Create(testScope, obj); err != nil {
		t.Fatalf("create %T %s: %v", obj, obj.GetName(), err)
	}
	t.Cleanup(func() { _ = k8s.Delete(testScope, obj) })
}

// invalid is an object that must be rejected; the error must mention every
// string in want (the field path, and the rule).
type invalid struct {
	name string
	yaml string
	want []string
}

func pool(addresses ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: bad}\nspec:\n  addresses:\n")
	for _, a := range addresses {
		fmt.Fprintf(&b, "  - %q\n", a)
	}
	return b.String()
}

func peer(spec string) string {
	return "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: bad}\nspec:\n" + spec
}

func peerV1(spec string) string {
	return "apiVersion: metallb.io/v1beta1\nkind: BGPPeer\nmetadata: {name: bad}\nspec:\n" + spec
}

func bgpAdv(spec string) string {
	return "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: bad}\nspec:\n" + spec
}

func bfd(spec string) string {
	return "apiVersion: metallb.io/v1beta1\nkind: BFDProfile\nmetadata: {name: bad}\nspec:\n" + spec
}

func community(value string) string {
	return "apiVersion: metallb.io/v1beta1\nkind: Community\nmetadata: {name: bad}\nspec:\n  communities:\n  - name: x\n    value: \"" + value + "\"\n"
}

const peerBase = "  myASN: 64500\n"

func TestInvalidRejected(t *testing.T) {
	needAPIServer(t)
	cases := []invalid{
		// IPAddressPool
		{"pool/no addresses", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: bad}\nspec: {autoAssign: true}\n", []string{"spec.addresses", "Required"}},
		{"pool/null addresses", pool(), []string{"spec.addresses"}},
		{"pool/empty addresses", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: bad}\nspec: {addresses: []}\n", []string{"spec.addresses", "at least 1"}},
		{"pool/not a CIDR", pool("192.168.1.0/24", "not-an-ip"), []string{"spec.addresses[1]", "must be a CIDR"}},
		{"pool/bad prefix length", pool("192.168.1.0/33"), []string{"spec.addresses[0]", "must be a CIDR"}},
		{"pool/bare IP", pool("192.168.1.1"), []string{"spec.addresses[0]", "must be a CIDR"}},
		{"pool/three-part range", pool("1.1.1.1-1.1.1.2-1.1.1.3"), []string{"spec.addresses[0]", "must be a CIDR"}},
		{"pool/range with bad end", pool("1.1.1.1-1.1.1.300"), []string{"spec.addresses[0]", "must be a CIDR"}},
		{"pool/mixed-family range", pool("10.0.0.1-2001:db8::1"), []string{"spec.addresses[0]", "same IP family"}},
		{"pool/reversed IPv4 range", pool("10.0.0.10-10.0.0.9"), []string{"spec.addresses[0]", "must not be after"}},
		{"pool/reversed IPv4 range across octets", pool("10.0.1.0 - 10.0.0.255"), []string{"spec.addresses[0]", "must not be after"}},
		{"pool/reversed IPv6 range", pool("2001:db8::2:0-2001:db8::1:ffff"), []string{"spec.addresses[0]", "must not be after"}},
		{"pool/reversed IPv6 range with ::", pool("2001:db8:0:1::-2001:db8::ffff"), []string{"spec.addresses[0]", "must not be after"}},
		{"pool/negative priority", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: bad}\nspec:\n  addresses: [10.0.0.0/24]\n  serviceAllocation: {priority: -1}\n", []string{"spec.serviceAllocation.priority"}},
		{"pool/duplicate namespace", "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: bad}\nspec:\n  addresses: [10.0.0.0/24]\n  serviceAllocation: {namespaces: [a, a]}\n", []string{"spec.serviceAllocation.namespaces[1]", "Duplicate"}},

		// BGPPeer v1beta2
		{"peer/no myASN", peer("  peerASN: 1\n  peerAddress: 10.0.0.1\n"), []string{"spec.myASN", "Required"}},
		{"peer/neither peerASN nor dynamicASN", peer(peerBase + "  peerAddress: 10.0.0.1\n"), []string{"spec.peerASN", "spec.dynamicASN"}},
		{"peer/both peerASN and dynamicASN", peer(peerBase + "  peerASN: 1\n  dynamicASN: external\n  peerAddress: 10.0.0.1\n"), []string{"spec.peerASN", "spec.dynamicASN"}},
		{"peer/bad dynamicASN", peer(peerBase + "  dynamicASN: both\n  peerAddress: 10.0.0.1\n"), []string{"spec.dynamicASN", "Unsupported value"}},
		{"peer/neither address nor interface", peer(peerBase + "  peerASN: 1\n"), []string{"spec.peerAddress", "spec.interface"}},
		{"peer/both address and interface", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  interface: eth0\n"), []string{"spec.peerAddress", "spec.interface"}},
		{"peer/bad peerAddress", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.300\n"), []string{"spec.peerAddress", "must be an IP"}},
		{"peer/bad sourceAddress", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  sourceAddress: foo\n"), []string{"spec.sourceAddress", "must be an IP"}},
		{"peer/bad routerID", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  routerID: foo\n"), []string{"spec.routerID", "must be an IP"}},
		{"peer/password and passwordSecret", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  password: x\n  passwordSecret: {name: s}\n"), []string{"spec.password", "spec.passwordSecret"}},
		{"peer/holdTime 2s", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  holdTime: 2s\n"), []string{"spec.holdTime", "at least 3s"}},
		{"peer/keepalive above hold", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  holdTime: 30s\n  keepaliveTime: 31s\n"), []string{"spec.keepaliveTime", "spec.holdTime"}},
		{"peer/keepalive alone too short", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  keepaliveTime: 500ms\n"), []string{"spec.keepaliveTime", "at least 1s"}},
		{"peer/negative keepalive", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  keepaliveTime: -1s\n"), []string{"spec.keepaliveTime", "negative"}},
		{"peer/bad duration", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  holdTime: soon\n"), []string{"spec.holdTime"}},
		{"peer/connectTime 0", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  connectTime: 0s\n"), []string{"spec.connectTime", "between 1s and 65535s"}},
		{"peer/connectTime too long", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  connectTime: 65536s\n"), []string{"spec.connectTime", "between 1s and 65535s"}},
		{"peer/connectTime fractional", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  connectTime: 1500ms\n"), []string{"spec.connectTime", "whole number of seconds"}},
		{"peer/multihop iBGP", peer(peerBase + "  peerASN: 64500\n  peerAddress: 10.0.0.1\n  ebgpMultiHop: true\n"), []string{"spec.ebgpMultiHop", "iBGP"}},
		{"peer/multihop dynamic internal", peer(peerBase + "  dynamicASN: internal\n  peerAddress: 10.0.0.1\n  ebgpMultiHop: true\n"), []string{"spec.ebgpMultiHop", "iBGP"}},
		{"peer/port 0", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  peerPort: 0\n"), []string{"spec.peerPort"}},
		{"peer/port 16385", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  peerPort: 16385\n"), []string{"spec.peerPort"}},
		{"peer/ASN too big", peer("  myASN: 4294967296\n  peerASN: 1\n  peerAddress: 10.0.0.1\n"), []string{"spec.myASN"}},
		{"peer/localASN 0", peer(peerBase + "  peerASN: 1\n  localASN: 0\n  peerAddress: 10.0.0.1\n"), []string{"spec.localASN"}},

		// BGPPeer v1beta1
		{"peerv1/no peerAddress", peerV1(peerBase + "  peerASN: 1\n"), []string{"spec.peerAddress", "Required"}},
		{"peerv1/4-byte ASN", peerV1(peerBase + "  peerASN: 70000\n  peerAddress: 10.0.0.1\n"), []string{"spec.peerASN"}},
		{"peerv1/bad peerAddress", peerV1(peerBase + "  peerASN: 1\n  peerAddress: nope\n"), []string{"spec.peerAddress", "must be an IP"}},
		{"peerv1/holdTime 1s", peerV1(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  holdTime: 1s\n"), []string{"spec.holdTime", "at least 3s"}},
		{"peerv1/multihop iBGP", peerV1(peerBase + "  peerASN: 64500\n  peerAddress: 10.0.0.1\n  ebgpMultiHop: true\n"), []string{"spec.ebgpMultiHop", "iBGP"}},
		{"peerv1/selector without values", peerV1(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  nodeSelectors:\n  - matchExpressions:\n    - {key: a, operator: In, values: []}\n"), []string{"spec.nodeSelectors[0].matchExpressions[0].values"}},

		// BGPAdvertisement
		{"bgpadv/aggregationLength 0", bgpAdv("  aggregationLength: 0\n"), []string{"spec.aggregationLength"}},
		{"bgpadv/aggregationLength 33", bgpAdv("  aggregationLength: 33\n"), []string{"spec.aggregationLength"}},
		{"bgpadv/aggregationLengthV6 129", bgpAdv("  aggregationLengthV6: 129\n"), []string{"spec.aggregationLengthV6"}},
		{"bgpadv/aggregationLengthV6 0", bgpAdv("  aggregationLengthV6: 0\n"), []string{"spec.aggregationLengthV6"}},
		{"bgpadv/serviceSelectors with aggregation", bgpAdv("  aggregationLength: 24\n  serviceSelectors:\n  - matchLabels: {a: b}\n"), []string{"spec.serviceSelectors", "aggregationLength"}},
		{"bgpadv/serviceSelectors with v6 aggregation", bgpAdv("  aggregationLengthV6: 64\n  serviceSelectors:\n  - matchLabels: {a: b}\n"), []string{"spec.serviceSelectors", "aggregationLengthV6"}},
		{"bgpadv/bad community", bgpAdv("  communities: [\"65536:1\"]\n"), []string{"spec.communities[0]", "AA:NN"}},
		{"bgpadv/bad large community", bgpAdv("  communities: [\"large:1:2\"]\n"), []string{"spec.communities[0]", "large:A:B:C"}},
		{"bgpadv/localPref too big", bgpAdv("  localPref: 4294967296\n"), []string{"spec.localPref"}},

		// Community
		{"community/not a number", community("a:b"), []string{"spec.communities[0].value", "AA:NN"}},
		{"community/16-bit overflow", community("1:65536"), []string{"spec.communities[0].value"}},
		{"community/large overflow", community("large:1:2:4294967296"), []string{"spec.communities[0].value"}},
		{"community/alias as value", community("no-export"), []string{"spec.communities[0].value"}},

		// BFDProfile
		{"bfd/receiveInterval 9", bfd("  receiveInterval: 9\n"), []string{"spec.receiveInterval"}},
		{"bfd/transmitInterval 60001", bfd("  transmitInterval: 60001\n"), []string{"spec.transmitInterval"}},
		{"bfd/detectMultiplier 1", bfd("  detectMultiplier: 1\n"), []string{"spec.detectMultiplier"}},
		{"bfd/detectMultiplier 256", bfd("  detectMultiplier: 256\n"), []string{"spec.detectMultiplier"}},
		{"bfd/echoInterval 5", bfd("  echoInterval: 5\n"), []string{"spec.echoInterval"}},
		{"bfd/minimumTtl 0", bfd("  minimumTtl: 0\n"), []string{"spec.minimumTtl"}},
		{"bfd/minimumTtl 255", bfd("  minimumTtl: 255\n"), []string{"spec.minimumTtl"}},

		// ConfigurationState
		{"configstate/bad result", "apiVersion: metallb.io/v1beta1\nkind: ConfigurationState\nmetadata: {name: bad}\nstatus: {result: Maybe}\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := parse(t, c.yaml)
			err := k8s.Create(testScope, obj)
			if c.want == nil {
				// Status is dropped on create; the check is on the status subresource.
				if err != nil {
					t.Fatalf("create: %v", err)
				}
				t.Cleanup(func() { _ = k8s.Delete(testScope, obj) })
				statusObj := parse(t, c.yaml)
				statusObj.SetResourceVersion(obj.GetResourceVersion())
				err = k8s.Status().Update(testScope, statusObj)
				c.want = []string{"status.result", "Unsupported value"}
			} else if err == nil {
				_ = k8s.Delete(testScope, obj)
			}
			expectInvalid(t, err, c.want...)
		})
	}
}

func expectInvalid(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want rejection mentioning %q", want)
	}
	if !apierrors.IsInvalid(err) {
		t.Fatalf("got %v, want an Invalid error", err)
	}
	t.Logf("rejected: %v", err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

// TestValidEdgeCases are objects close to the limits that must be accepted.
func TestValidEdgeCases(t *testing.T) {
	needAPIServer(t)
	cases := []struct{ name, yaml string }{
		{"pool/single-address range", pool("10.1.0.1-10.1.0.1")},
		{"pool/IPv6 range same address", pool("2001:db8::1-2001:db8::1")},
		{"pool/IPv6 range across groups", pool("2001:db8::ffff-2001:db8::1:0")},
		{"pool/IPv6 range uppercase", pool("2001:DB8::A-2001:db8::b")},
		{"pool/IPv6 full form", pool("2001:0db8:0000:0000:0000:0000:0000:0001-2001:db8::2")},
		{"pool/host bits set", pool("192.168.1.1/24")},
		{"pool/single /32", pool("192.168.1.1/32")},
		{"pool/IPv4 range across octets", pool("10.0.0.255-10.0.1.0")},
		{"peer/holdTime 0", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  holdTime: 0s\n  keepaliveTime: 0s\n")},
		{"peer/keepalive alone 1s", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  keepaliveTime: 1s\n")},
		{"peer/4-byte ASNs", peer("  myASN: 4294967295\n  peerASN: 4294967294\n  localASN: 4294967295\n  peerAddress: 10.0.0.1\n")},
		{"peer/connectTime bounds", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  connectTime: 18h12m15s\n")},
		{"peer/multihop eBGP dynamic", peer(peerBase + "  dynamicASN: external\n  peerAddress: 10.0.0.1\n  ebgpMultiHop: true\n")},
		{"peer/empty passwordSecret with password", peer(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  password: x\n  passwordSecret: {}\n")},
		{"peerv1/Go zero timers", peerV1(peerBase + "  peerASN: 1\n  peerAddress: 10.0.0.1\n  holdTime: 0s\n  keepaliveTime: 0s\n")},
		{"bgpadv/serviceSelectors with explicit defaults", bgpAdv("  aggregationLength: 32\n  aggregationLengthV6: 128\n  serviceSelectors:\n  - matchLabels: {a: b}\n")},
		{"bgpadv/community edge values", bgpAdv("  communities: [\"0:0\", \"65535:65535\", \"large:4294967295:4294967295:4294967295\", \" 1:2 \", some-alias]\n")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj := parse(t, c.yaml)
			obj.SetName("edge")
			if err := k8s.Create(testScope, obj); err != nil {
				t.Fatalf("rejected: %v", err)
			}
			_ = k8s.Delete(testScope, obj)
		})
	}
}

// TestBGPPeerV1beta1ReadAsV1beta2 checks the webhook-free conversion.
func TestBGPPeerV1beta1ReadAsV1beta2(t *testing.T) {
	needAPIServer(t)
	var legacy *unstructured.Unstructured
	for _, obj := range readSamples(t, "bgppeers.yaml") {
		if obj.GetAPIVersion() == "metallb.io/v1beta1" {
			legacy = obj
		}
	}
	if legacy == nil {
		t.Fatal("no v1beta1 sample")
	}
	legacy.SetName("legacy-conversion")
	mustCreate(t, legacy)

	var got v1beta2.BGPPeer
	if err := k8s.Get(testScope, types.NamespacedName{Namespace: ns, Name: "legacy-conversion"}, &got); err != nil {
		t.Fatal(err)
	}
	want := v1beta2.BGPPeerSpec{
		MyASN:         64512,
		ASN:           64513,
		Address:       "172.30.0.3",
		Port:          180,
		HoldTime:      &metav1.Duration{Duration: 120 * time.Second},
		KeepaliveTime: &metav1.Duration{Duration: 40 * time.Second},
		RouterID:      "10.10.10.10",
		BFDProfile:    "testbfdprofile",
		EBGPMultiHop:  true,
		NodeSelectors: []metav1.LabelSelector{{
			MatchLabels:      map[string]string{"kubernetes.io/hostname": "NodeA"},
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "zone", Operator: metav1.LabelSelectorOpIn, Values: []string{"a"}}},
		}},
	}
	if !reflect.DeepEqual(got.Spec, want) {
		a, _ := json.Marshal(got.Spec)
		b, _ := json.Marshal(want)
		t.Errorf("read back as v1beta2:\n got %s\nwant %s", a, b)
	}

	// A v1beta1 object written by a Go client (zero timers, no port) is
	// stored with port defaulted to 179 and explicit zero timers.
	goPeer := &v1beta1.BGPPeer{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy-go", Namespace: ns},
		Spec:       v1beta1.BGPPeerSpec{MyASN: 64512, ASN: 64513, Address: "172.30.0.4"},
	}
	mustCreate(t, goPeer)
	if err := k8s.Get(testScope, client.ObjectKeyFromObject(goPeer), &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Port != 179 || got.Spec.HoldTime == nil || got.Spec.HoldTime.Duration != 0 {
		t.Errorf("Go-written v1beta1 peer read as v1beta2: port %d, holdTime %v", got.Spec.Port, got.Spec.HoldTime)
	}

	// A v1beta2 object can still be read and updated through v1beta1.
	var old v1beta1.BGPPeer
	if err := k8s.Get(testScope, types.NamespacedName{Namespace: ns, Name: "legacy-conversion"}, &old); err != nil {
		t.Fatal(err)
	}
	if old.Spec.Address != "172.30.0.3" || old.Spec.ASN != 64513 || old.Spec.HoldTime.Duration != 120*time.Second {
		t.Errorf("read back as v1beta1: %+v", old.Spec)
	}
	old.Spec.Password = "changed"
	if err := k8s.Update(testScope, &old); err != nil {
		t.Fatalf("update through v1beta1: %v", err)
	}
	if err := k8s.Get(testScope, types.NamespacedName{Namespace: ns, Name: "legacy-conversion"}, &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Password != "changed" {
		t.Errorf("password after v1beta1 update = %q", got.Spec.Password)
	}
}

// TestGracefulRestartImmutable covers setting, clearing and adding the field.
func TestGracefulRestartImmutable(t *testing.T) {
	needAPIServer(t)
	for _, start := range []bool{true, false} {
		t.Run(fmt.Sprintf("from %v", start), func(t *testing.T) {
			p := &v1beta2.BGPPeer{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("gr-%v", start), Namespace: ns},
				Spec:       v1beta2.BGPPeerSpec{MyASN: 64500, ASN: 64501, Address: "10.0.0.1", EnableGracefulRestart: start},
			}
			mustCreate(t, p)
			p.Spec.Password = "other fields can change"
			if err := k8s.Update(testScope, p); err != nil {
				t.Fatalf("unrelated update rejected: %v", err)
			}
			p.Spec.EnableGracefulRestart = !start
			expectInvalid(t, k8s.Update(testScope, p), "spec.enableGracefulRestart", "cannot be changed")
		})
	}
}

// TestStatusFieldsImmutable covers ServiceL2Status and ServiceBGPStatus.
func TestStatusFieldsImmutable(t *testing.T) {
	needAPIServer(t)
	for _, sample := range readSamples(t, "statuses.yaml") {
		if sample.GetKind() == "ConfigurationState" {
			continue
		}
		t.Run(sample.GetKind(), func(t *testing.T) {
			obj := sample.DeepCopy()
			obj.SetNamespace(ns)
			mustCreate(t, obj)
			status, _, _ := unstructured.NestedMap(sample.Object, "status")
			if err := unstructured.SetNestedMap(obj.Object, status, "status"); err != nil {
				t.Fatal(err)
			}
			if err := k8s.Status().Update(testScope, obj); err != nil {
				t.Fatalf("first status write: %v", err)
			}
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(obj.GroupVersionKind())
			if err := k8s.Get(testScope, client.ObjectKeyFromObject(obj), got); err != nil {
				t.Fatal(err)
			}
			if gs, _, _ := unstructured.NestedMap(got.Object, "status"); !reflect.DeepEqual(gs, status) {
				t.Errorf("status read back %v, want %v", gs, status)
			}
			for _, field := range []string{"node", "serviceName", "serviceNamespace"} {
				changed := got.DeepCopy()
				if err := unstructured.SetNestedField(changed.Object, "other", "status", field); err != nil {
					t.Fatal(err)
				}
				expectInvalid(t, k8s.Status().Update(testScope, changed), "status."+field, "immutable")
			}
		})
	}
}

// TestConfigurationStateStatus checks the status shape round-trips.
func TestConfigurationStateStatus(t *testing.T) {
	needAPIServer(t)
	cs := &v1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{Name: "controller", Namespace: ns, Labels: map[string]string{v1beta1.LabelComponentType: "controller"}}}
	mustCreate(t, cs)
	cs.Status = v1beta1.ConfigurationStateStatus{
		Result:       v1beta1.ConfigurationStateResultInvalid,
		ErrorSummary: "CIDR overlaps",
		Conditions: []metav1.Condition{{
			Type: v1beta1.ConditionPoolReconcilerValid, Status: metav1.ConditionFalse, Reason: v1beta1.ReasonConfigurationError,
			Message: "CIDR overlaps", LastTransitionTime: metav1.Now(),
		}},
	}
	if err := k8s.Status().Update(testScope, cs); err != nil {
		t.Fatalf("status update: %v", err)
	}
	var got v1beta1.ConfigurationState
	if err := k8s.Get(testScope, client.ObjectKeyFromObject(cs), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Result != v1beta1.ConfigurationStateResultInvalid || got.Status.ErrorSummary != "CIDR overlaps" || len(got.Status.Conditions) != 1 {
		t.Errorf("status read back: %+v", got.Status)
	}
}

// TestIPAddressPoolStatus checks the status counters, including the int64 maximum.
func TestIPAddressPoolStatus(t *testing.T) {
	needAPIServer(t)
	p := &v1beta1.IPAddressPool{
		ObjectMeta: metav1.ObjectMeta{Name: "status", Namespace: ns},
		Spec:       v1beta1.IPAddressPoolSpec{Addresses: []string{"10.201.0.0/24", "2001:db8::/64"}},
	}
	mustCreate(t, p)
	p.Status = v1beta1.IPAddressPoolStatus{AssignedIPv4: 3, AvailableIPv4: 253, AssignedIPv6: 1, AvailableIPv6: 1<<63 - 1}
	if err := k8s.Status().Update(testScope, p); err != nil {
		t.Fatalf("status update: %v", err)
	}
	var got v1beta1.IPAddressPool
	if err := k8s.Get(testScope, client.ObjectKeyFromObject(p), &got); err != nil {
		t.Fatal(err)
	}
	if got.Status != p.Status {
		t.Errorf("status read back %+v, want %+v", got.Status, p.Status)
	}
}

// TestBGPPeerV1beta2ReadAsV1beta1 checks that, as with MetalLB's webhook,
// reading a v1beta2 object through v1beta1 drops the fields v1beta1 lacks.
func TestBGPPeerV1beta2ReadAsV1beta1(t *testing.T) {
	needAPIServer(t)
	for _, obj := range readSamples(t, "bgppeers.yaml") {
		if obj.GetName() != "full" {
			continue
		}
		obj.SetNamespace(ns)
		obj.SetName("full-as-v1beta1")
		mustCreate(t, obj)
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("metallb.io/v1beta1")
		u.SetKind("BGPPeer")
		if err := k8s.Get(testScope, types.NamespacedName{Namespace: ns, Name: "full-as-v1beta1"}, u); err != nil {
			t.Fatal(err)
		}
		spec, _, _ := unstructured.NestedMap(u.Object, "spec")
		for _, k := range []string{"connectTime", "vrf", "localASN", "enableGracefulRestart", "dualStackAddressFamily", "disableMP"} {
			if _, ok := spec[k]; ok {
				t.Errorf("v1beta1 read shows v1beta2-only field %s", k)
			}
		}
		for _, k := range []string{"myASN", "peerASN", "peerAddress", "holdTime", "keepaliveTime", "nodeSelectors", "password", "bfdProfile", "ebgpMultiHop"} {
			if _, ok := spec[k]; !ok {
				t.Errorf("v1beta1 read lost %s", k)
			}
		}
		return
	}
	t.Fatal("no sample named full")
}
