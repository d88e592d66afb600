package v1beta1_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/api/v1beta2"
)

// readSamples returns the JSON of every document in api/testdata/<file>.
func readSamples(t *testing.T, file string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	var docs [][]byte
	for {
		var doc json.RawMessage
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s: %v", file, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 || string(doc) == "null" {
			continue
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no documents", file)
	}
	return docs
}

func newScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := v1beta1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := v1beta2.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSamplesRoundTrip decodes every MetalLB sample strictly into the Go
// types and encodes it again: every field of the sample must come back with
// the same value, and anything added must be a zero value.
func TestSamplesRoundTrip(t *testing.T) {
	s := newScheme(t)
	files := []string{
		"ipaddresspools.yaml", "l2advertisements.yaml", "bgpadvertisements.yaml",
		"bgppeers.yaml", "communities.yaml", "bfdprofiles.yaml", "statuses.yaml",
	}
	for _, file := range files {
		for i, doc := range readSamples(t, file) {
			var in map[string]any
			if err := json.Unmarshal(doc, &in); err != nil {
				t.Fatal(err)
			}
			gv, err := schema.ParseGroupVersion(in["apiVersion"].(string))
			if err != nil {
				t.Fatal(err)
			}
			gvk := gv.WithKind(in["kind"].(string))
			name := file + "/" + gvk.Version + "/" + gvk.Kind + "/" + in["metadata"].(map[string]any)["name"].(string)
			t.Run(name, func(t *testing.T) {
				obj, err := s.New(gvk)
				if err != nil {
					t.Fatalf("doc %d: %v", i, err)
				}
				dec := json.NewDecoder(bytes.NewReader(doc))
				dec.DisallowUnknownFields()
				if err := dec.Decode(obj); err != nil {
					t.Fatalf("strict decode: %v", err)
				}
				outJSON, err := json.Marshal(obj)
				if err != nil {
					t.Fatal(err)
				}
				var out map[string]any
				if err := json.Unmarshal(outJSON, &out); err != nil {
					t.Fatal(err)
				}
				compareSubset(t, "", in, out)
			})
		}
	}
}

// compareSubset checks that want is contained in got and that whatever got
// adds is a zero value.
func compareSubset(t *testing.T, path string, want, got any) {
	t.Helper()
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			t.Errorf("%s: got %#v, want an object", path, got)
			return
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok && isZero(wv) {
				continue // omitempty drops explicit zero values such as disableMP: false
			}
			if !ok {
				t.Errorf("%s.%s: lost in the round trip", path, k)
				continue
			}
			compareSubset(t, path+"."+k, wv, gv)
		}
		for k, gv := range g {
			if _, ok := w[k]; !ok && !isZero(gv) {
				t.Errorf("%s.%s: added non-zero value %#v", path, k, gv)
			}
		}
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Errorf("%s: got %#v, want %#v", path, got, want)
			return
		}
		for i := range w {
			compareSubset(t, path+"[]", w[i], g[i])
		}
	case string:
		// Durations come back in canonical form (90s -> 1m30s).
		if gs, ok := got.(string); ok {
			wd, werr := time.ParseDuration(w)
			gd, gerr := time.ParseDuration(gs)
			if werr == nil && gerr == nil && wd == gd {
				return
			}
		}
		if want != got {
			t.Errorf("%s: got %#v, want %#v", path, got, want)
		}
	default:
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s: got %#v, want %#v", path, got, want)
		}
	}
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		for _, e := range x {
			if !isZero(e) {
				return false
			}
		}
		return true
	case []any:
		return len(x) == 0
	case string:
		return x == "" || x == "0s"
	case float64:
		return x == 0
	case bool:
		return !x
	}
	return false
}

// TestGoFieldNames pins the Go names other packages code against and the
// JSON names they map to.
func TestGoFieldNames(t *testing.T) {
	prio := v1beta1.IPAddressPool{Spec: v1beta1.IPAddressPoolSpec{
		Addresses:  []string{"10.0.0.0/24"},
		AllocateTo: &v1beta1.ServiceAllocation{Priority: 1, Namespaces: []string{"a"}, NamespaceSelectors: []metav1.LabelSelector{{}}, ServiceSelectors: []metav1.LabelSelector{{}}},
	}}
	b, err := json.Marshal(prio.Spec)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"addresses":["10.0.0.0/24"],"serviceAllocation":{"priority":1,"namespaces":["a"],"namespaceSelectors":[{}],"serviceSelectors":[{}]}}`
	if string(b) != want {
		t.Errorf("IPAddressPoolSpec JSON:\n got %s\nwant %s", b, want)
	}

	status := v1beta1.IPAddressPoolStatus{AssignedIPv4: 1, AssignedIPv6: 2, AvailableIPv4: 3, AvailableIPv6: 4}
	b, _ = json.Marshal(status)
	if want := `{"assignedIPv4":1,"assignedIPv6":2,"availableIPv4":3,"availableIPv6":4}`; string(b) != want {
		t.Errorf("IPAddressPoolStatus JSON: got %s want %s", b, want)
	}

	peer := v1beta2.BGPPeerSpec{MyASN: 1, ASN: 2, DynamicASN: v1beta2.ExternalASNMode, Address: "a", SrcAddress: "s", Port: 3, VRFName: "v", EBGPMultiHop: true}
	b, _ = json.Marshal(peer)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	for _, k := range []string{"myASN", "peerASN", "dynamicASN", "peerAddress", "sourceAddress", "peerPort", "vrf", "ebgpMultiHop", "passwordSecret"} {
		if _, ok := m[k]; !ok {
			t.Errorf("BGPPeerSpec JSON lacks %q: %s", k, b)
		}
	}
}

// TestCRDDefaults checks the defaults in the generated CRDs against MetalLB's.
func TestCRDDefaults(t *testing.T) {
	cases := []struct {
		crd, version string
		path         []string
		want         string
	}{
		{"ipaddresspools", "v1beta1", []string{"spec", "autoAssign"}, "true"},
		{"ipaddresspools", "v1beta1", []string{"spec", "avoidBuggyIPs"}, "false"},
		{"bgpadvertisements", "v1beta1", []string{"spec", "aggregationLength"}, "32"},
		{"bgpadvertisements", "v1beta1", []string{"spec", "aggregationLengthV6"}, "128"},
		{"bgppeers", "v1beta2", []string{"spec", "peerPort"}, "179"},
		{"bgppeers", "v1beta2", []string{"spec", "disableMP"}, "false"},
		{"bgppeers", "v1beta2", []string{"spec", "dualStackAddressFamily"}, "false"},
	}
	for _, c := range cases {
		t.Run(c.crd+"/"+c.version+"/"+c.path[len(c.path)-1], func(t *testing.T) {
			crd := loadCRD(t, c.crd)
			var props *apiextensionsv1.JSONSchemaProps
			for i := range crd.Spec.Versions {
				if crd.Spec.Versions[i].Name == c.version {
					props = crd.Spec.Versions[i].Schema.OpenAPIV3Schema
				}
			}
			if props == nil {
				t.Fatalf("no version %s", c.version)
			}
			for _, p := range c.path {
				next, ok := props.Properties[p]
				if !ok {
					t.Fatalf("no property %s", p)
				}
				props = &next
			}
			if props.Default == nil || string(props.Default.Raw) != c.want {
				t.Errorf("default = %v, want %s", props.Default, c.want)
			}
		})
	}
}

// TestCRDVersions checks served/storage versions and printer columns.
func TestCRDVersions(t *testing.T) {
	crd := loadCRD(t, "bgppeers")
	if len(crd.Spec.Versions) != 2 {
		t.Fatalf("bgppeers has %d versions, want 2", len(crd.Spec.Versions))
	}
	for _, v := range crd.Spec.Versions {
		switch v.Name {
		case "v1beta1":
			if !v.Served || v.Storage || !v.Deprecated {
				t.Errorf("v1beta1: served=%v storage=%v deprecated=%v", v.Served, v.Storage, v.Deprecated)
			}
		case "v1beta2":
			if !v.Served || !v.Storage {
				t.Errorf("v1beta2: served=%v storage=%v", v.Served, v.Storage)
			}
		}
		if len(v.AdditionalPrinterColumns) != 4 {
			t.Errorf("%s: %d printer columns, want 4", v.Name, len(v.AdditionalPrinterColumns))
		}
	}
	if crd.Spec.Conversion != nil && crd.Spec.Conversion.Strategy != apiextensionsv1.NoneConverter {
		t.Errorf("conversion strategy %q, want None", crd.Spec.Conversion.Strategy)
	}
	pool := loadCRD(t, "ipaddresspools")
	cols := pool.Spec.Versions[0].AdditionalPrinterColumns
	var names []string
	for _, c := range cols {
		names = append(names, c.Name)
	}
	if want := []string{"Auto Assign", "Avoid Buggy IPs", "Addresses"}; !reflect.DeepEqual(names, want) {
		t.Errorf("ipaddresspools columns %v, want %v", names, want)
	}
	if pool.Spec.Versions[0].Subresources == nil || pool.Spec.Versions[0].Subresources.Status == nil {
		t.Error("ipaddresspools has no status subresource")
	}
}

func loadCRD(t *testing.T, plural string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "metallb.io_"+plural+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(raw, &crd); err != nil {
		t.Fatal(err)
	}
	return &crd
}
