package svcinfo

import (
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func svc(mut ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
	}
	for _, m := range mut {
		m(s)
	}
	return s
}

func ann(k, v string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[k] = v
	}
}

func TestRequestedIPs(t *testing.T) {
	cases := map[string]struct {
		svc     *corev1.Service
		want    string // comma-joined
		wantErr string
	}{
		"nothing requested":                    {svc: svc()},
		"spec.loadBalancerIP":                  {svc: svc(func(s *corev1.Service) { s.Spec.LoadBalancerIP = "192.0.2.1" }), want: "192.0.2.1"},
		"new annotation, one IP":               {svc: svc(ann("metallb.io/loadBalancerIPs", "192.0.2.1")), want: "192.0.2.1"},
		"legacy annotation":                    {svc: svc(ann("metallb.universe.tf/loadBalancerIPs", "192.0.2.2")), want: "192.0.2.2"},
		"new prefix wins over legacy":          {svc: svc(ann("metallb.universe.tf/loadBalancerIPs", "192.0.2.2"), ann("metallb.io/loadBalancerIPs", "192.0.2.3")), want: "192.0.2.3"},
		"two families with spaces":             {svc: svc(ann("metallb.io/loadBalancerIPs", " 192.0.2.1 , 2001:db8::1")), want: "192.0.2.1,2001:db8::1"},
		"two of one family is refused":         {svc: svc(ann("metallb.io/loadBalancerIPs", "192.0.2.1,192.0.2.2")), wantErr: "different families"},
		"three IPs are refused":                {svc: svc(ann("metallb.io/loadBalancerIPs", "192.0.2.1,2001:db8::1,192.0.2.3")), wantErr: "at most two"},
		"garbage is refused naming it":         {svc: svc(ann("metallb.io/loadBalancerIPs", "nope")), wantErr: `"nope" is not an IP`},
		"both spec and annotation":             {svc: svc(ann("metallb.io/loadBalancerIPs", "192.0.2.1"), func(s *corev1.Service) { s.Spec.LoadBalancerIP = "192.0.2.1" }), wantErr: "can not have both"},
		"IPv4-mapped IPv6 is read as IPv4":     {svc: svc(func(s *corev1.Service) { s.Spec.LoadBalancerIP = "::ffff:192.0.2.9" }), want: "192.0.2.9"},
		"bad spec.loadBalancerIP names itself": {svc: svc(func(s *corev1.Service) { s.Spec.LoadBalancerIP = "1.2.3" }), wantErr: "spec.loadBalancerIP"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ips, err := RequestedIPs(tc.svc)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ip := range ips {
				got = append(got, ip.String())
			}
			if strings.Join(got, ",") != tc.want {
				t.Fatalf("got %v, want %s", got, tc.want)
			}
		})
	}
}

func TestIsOurs(t *testing.T) {
	class := "example.com/lb"
	cases := map[string]struct {
		svc     *corev1.Service
		lbClass string
		want    bool
	}{
		"LoadBalancer without class, default":  {svc: svc(), want: true},
		"ClusterIP is never ours":              {svc: svc(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeClusterIP }), want: false},
		"other class, default controller":      {svc: svc(func(s *corev1.Service) { s.Spec.LoadBalancerClass = &class }), want: false},
		"matching class, class controller":     {svc: svc(func(s *corev1.Service) { s.Spec.LoadBalancerClass = &class }), lbClass: class, want: true},
		"no class, class controller leaves it": {svc: svc(), lbClass: class, want: false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := IsOurs(tc.svc, tc.lbClass); got != tc.want {
				t.Fatalf("IsOurs = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestBackendKeyOnlyForLocalPolicy(t *testing.T) {
	local := svc(func(s *corev1.Service) {
		s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		s.Spec.Selector = map[string]string{"b": "2", "a": "1"}
	})
	if got := BackendKey(local); got != "a=1,b=2" {
		t.Fatalf("BackendKey(Local) = %q, want a=1,b=2", got)
	}
	if got := BackendKey(svc(func(s *corev1.Service) { s.Spec.Selector = map[string]string{"a": "1"} })); got != "" {
		t.Fatalf("BackendKey(Cluster) = %q, want empty", got)
	}
}

func TestFamiliesFallBackToClusterIPs(t *testing.T) {
	fams, policy := Families(svc(func(s *corev1.Service) { s.Spec.ClusterIPs = []string{"2001:db8::1", "198.18.0.1"} }))
	if len(fams) != 2 || fams[0] != IPv6 || fams[1] != IPv4 || policy != corev1.IPFamilyPolicySingleStack {
		t.Fatalf("got %v %v", fams, policy)
	}
}

func FuzzParseIPList(f *testing.F) {
	for _, seed := range []string{"192.0.2.1", "192.0.2.1,2001:db8::1", "a,b,c", "", ",", " ::ffff:1.2.3.4 ", "fe80::1%eth0"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ips, err := ParseIPList(s)
		if err != nil {
			return
		}
		if len(ips) == 0 || len(ips) > 2 {
			t.Fatalf("accepted %d IPs from %q", len(ips), s)
		}
		for _, ip := range ips {
			if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() {
				t.Fatalf("accepted odd address %v from %q", ip, s)
			}
		}
		if len(ips) == 2 && ips[0].Is4() == ips[1].Is4() {
			t.Fatalf("accepted two of one family from %q", s)
		}
		_ = netip.Addr{}
	})
}
