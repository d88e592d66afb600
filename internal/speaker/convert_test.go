package speaker

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseInterfaces(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{in: "", want: []string{}},
		{in: "  ", want: []string{}},
		{in: "eth0", want: []string{"eth0"}},
		{in: "eth1,eth0,eth1", want: []string{"eth0", "eth1"}},
		{in: " eth0 , bond0.100 ", want: []string{"bond0.100", "eth0"}},
		{in: "eth0,,eth1", wantErr: true},
		{in: "a/b", wantErr: true},
		{in: "averyveryverylongname", wantErr: true},
		{in: "..", wantErr: true},
		{in: "eth:0", wantErr: true},
	} {
		got, err := ParseInterfaces(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseInterfaces(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if err == nil && !slices.Equal(got, tc.want) {
			t.Errorf("ParseInterfaces(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := FormatInterfaces([]string{"eth1", "eth0", "bad/name", "eth1"}); got != "eth0,eth1" {
		t.Errorf("FormatInterfaces = %q", got)
	}
}

// FuzzInterfacesAnnotation: parsing never panics; what parses is sorted, unique,
// valid and round-trips through FormatInterfaces; what we format always parses.
func FuzzInterfacesAnnotation(f *testing.F) {
	for _, s := range []string{"", "eth0", "eth0,eth1", " a , b ", "a,,b", "x/y", "é", strings.Repeat("a", 16)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseInterfaces(s)
		if err == nil {
			if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
				t.Fatalf("ParseInterfaces(%q) = %q: not sorted and unique", s, got)
			}
			again, err := ParseInterfaces(FormatInterfaces(got))
			if err != nil || !slices.Equal(again, got) {
				t.Fatalf("round trip of %q: %q, %v", got, again, err)
			}
		}
		// Formatting any list (split on commas) yields a parseable value.
		v := FormatInterfaces(strings.Split(s, ","))
		if _, err := ParseInterfaces(v); err != nil {
			t.Fatalf("FormatInterfaces(%q) = %q does not parse: %v", s, v, err)
		}
	})
}

func TestNodeFrom(t *testing.T) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"a": "b"}, Annotations: map[string]string{InterfacesAnnotation: "eth1,eth0"}},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeInternalIP, Address: "192.0.2.1"}},
		},
	}
	got := NodeFrom(n)
	if !got.NetworkUnavailable || !got.InterfacesKnown || !slices.Equal(got.Interfaces, []string{"eth0", "eth1"}) {
		t.Fatalf("NodeFrom = %+v", got)
	}
	if ip, ok := InternalIP(n); !ok || ip.String() != "192.0.2.1" {
		t.Fatalf("InternalIP = %v %v", ip, ok)
	}
	n.Annotations[InterfacesAnnotation] = "bad/name"
	n.Status.Conditions[0].Status = corev1.ConditionFalse
	if got := NodeFrom(n); got.InterfacesKnown || got.NetworkUnavailable {
		t.Fatalf("NodeFrom with a bad annotation = %+v, want unknown interfaces", got)
	}
}

func TestServiceFromEndpoints(t *testing.T) {
	tr, fa := true, false
	n1, n2, n3 := "n1", "n2", "n3"
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}}
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}, {Hostname: "x"}, {IP: "2001:db8::1"}}
	es := &discoveryv1.EndpointSlice{Endpoints: []discoveryv1.Endpoint{
		{NodeName: &n1, Conditions: discoveryv1.EndpointConditions{Ready: &fa, Serving: &tr}}, // terminating but serving
		{NodeName: &n2, Conditions: discoveryv1.EndpointConditions{Ready: &fa, Serving: &fa}},
		{NodeName: &n3}, // ready unknown counts as ready
	}}
	got := ServiceFrom(svc, []*discoveryv1.EndpointSlice{es})
	if !got.Local || !got.Serving || len(got.IPs) != 2 {
		t.Fatalf("ServiceFrom = %+v", got)
	}
	if !got.ServingNodes["n1"] || got.ServingNodes["n2"] || !got.ServingNodes["n3"] {
		t.Fatalf("serving nodes %v, want n1 and n3", got.ServingNodes)
	}
	es.Endpoints = es.Endpoints[1:2]
	if got := ServiceFrom(svc, []*discoveryv1.EndpointSlice{es}); got.Serving {
		t.Fatal("a not-ready, not-serving endpoint counted")
	}
}
