// Package svcinfo reads what a Service asks of the load balancer: whether it is ours,
// which IPs or pool it requests, its sharing key and the ports it uses. It reads
// MetalLB's annotations under both prefixes so that existing manifests keep working.
//
// The package only interprets corev1.Service values; it never talks to the API server.
package svcinfo

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Annotation prefixes: MetalLB moved from metallb.universe.tf to metallb.io; both are
// read and the new one wins when a Service carries both.
const (
	Prefix       = "metallb.io/"
	LegacyPrefix = "metallb.universe.tf/"

	AnnotationAddressPool       = "address-pool"
	AnnotationLoadBalancerIPs   = "loadBalancerIPs"
	AnnotationAllowSharedIP     = "allow-shared-ip"
	AnnotationAllocatedFromPool = "ip-allocated-from-pool"
)

// PoolAnnotationKey is the annotation the controller writes with the pool a Service's
// IPs come from (MetalLB writes only the new prefix).
const PoolAnnotationKey = Prefix + AnnotationAllocatedFromPool

// Annotation returns the value of a MetalLB annotation under either prefix.
func Annotation(svc *corev1.Service, name string) (string, bool) {
	if v, ok := svc.Annotations[Prefix+name]; ok {
		return v, true
	}
	v, ok := svc.Annotations[LegacyPrefix+name]
	return v, ok
}

// LegacyAnnotations lists the metallb.universe.tf keys a Service carries, sorted.
func LegacyAnnotations(svc *corev1.Service) []string {
	var keys []string
	for k := range svc.Annotations {
		if strings.HasPrefix(k, LegacyPrefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// IsOurs reports whether the controller should give this Service an IP: it must be a
// LoadBalancer and carry our load balancer class (unset class means ours unless a
// class was configured, as MetalLB's --lb-class does).
func IsOurs(svc *corev1.Service, lbClass string) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	if lbClass == "" {
		return svc.Spec.LoadBalancerClass == nil
	}
	return svc.Spec.LoadBalancerClass != nil && *svc.Spec.LoadBalancerClass == lbClass
}

// ErrBothRequests is returned when a Service asks for IPs in two places at once.
var ErrBothRequests = errors.New("service can not have both metallb.io/loadBalancerIPs and svc.Spec.LoadBalancerIP")

// RequestedIPs returns the IPs a Service asks for, from spec.loadBalancerIP or the
// loadBalancerIPs annotation: none, one, or two of different families.
func RequestedIPs(svc *corev1.Service) ([]netip.Addr, error) {
	annotated, hasAnnotation := Annotation(svc, AnnotationLoadBalancerIPs)
	annotated = strings.TrimSpace(annotated)
	spec := strings.TrimSpace(svc.Spec.LoadBalancerIP)
	switch {
	case hasAnnotation && annotated != "" && spec != "":
		return nil, ErrBothRequests
	case spec != "":
		ip, err := netip.ParseAddr(spec)
		if err != nil {
			return nil, fmt.Errorf("invalid spec.loadBalancerIP %q: not an IP address", spec)
		}
		return []netip.Addr{ip.Unmap()}, nil
	case !hasAnnotation || annotated == "":
		return nil, nil
	}
	return ParseIPList(annotated)
}

// ParseIPList parses the loadBalancerIPs annotation: comma-separated, one IP or two
// of different families.
func ParseIPList(value string) ([]netip.Addr, error) {
	parts := strings.Split(value, ",")
	if len(parts) > 2 {
		return nil, fmt.Errorf("invalid loadBalancerIPs annotation %q: at most two IPs (one IPv4 and one IPv6) may be requested, got %d", value, len(parts))
	}
	ips := make([]netip.Addr, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		ip, err := netip.ParseAddr(p)
		if err != nil || ip.Zone() != "" {
			return nil, fmt.Errorf("invalid loadBalancerIPs annotation %q: %q is not an IP address", value, p)
		}
		ips = append(ips, ip.Unmap())
	}
	if len(ips) == 2 && ips[0].Is4() == ips[1].Is4() {
		return nil, fmt.Errorf("invalid loadBalancerIPs annotation %q: two IPs must be of different families", value)
	}
	return ips, nil
}

// IngressIPs returns the IPs in status.loadBalancer.ingress, skipping entries that
// are not IPs (a hostname written by someone else is not ours to manage).
func IngressIPs(svc *corev1.Service) []netip.Addr {
	var ips []netip.Addr
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		if ip, err := netip.ParseAddr(ing.IP); err == nil {
			ips = append(ips, ip.Unmap())
		}
	}
	return ips
}

// BackendKey is what Services sharing an IP must agree on beyond the sharing key: with
// externalTrafficPolicy Local, traffic only reaches nodes with local endpoints, so
// sharers must select the same pods; with Cluster, any node works and the key is empty.
func BackendKey(svc *corev1.Service) string {
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		return labels.SelectorFromSet(svc.Spec.Selector).String()
	}
	return ""
}

// Family is an IP family the Service wants an address of.
type Family int

const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// Families returns the IP families a Service wants, in order, and whether a second
// family is required (RequireDualStack), merely preferred (PreferDualStack) or not
// wanted. spec.ipFamilies is set by the API server; clusterIPs are the fallback.
func Families(svc *corev1.Service) (fams []Family, policy corev1.IPFamilyPolicy) {
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			fams = append(fams, IPv4)
		case corev1.IPv6Protocol:
			fams = append(fams, IPv6)
		}
	}
	if len(fams) == 0 {
		ips := svc.Spec.ClusterIPs
		if len(ips) == 0 && svc.Spec.ClusterIP != "" {
			ips = []string{svc.Spec.ClusterIP}
		}
		for _, s := range ips {
			if ip, err := netip.ParseAddr(s); err == nil {
				if ip.Unmap().Is4() {
					fams = append(fams, IPv4)
				} else {
					fams = append(fams, IPv6)
				}
			}
		}
	}
	if len(fams) == 0 {
		fams = []Family{IPv4}
	}
	policy = corev1.IPFamilyPolicySingleStack
	if svc.Spec.IPFamilyPolicy != nil {
		policy = *svc.Spec.IPFamilyPolicy
	}
	return fams, policy
}

// Ports lists the (protocol, port) pairs a Service exposes; two Services can share an
// IP only when these do not clash.
func Ports(svc *corev1.Service) []Port {
	ports := make([]Port, 0, len(svc.Spec.Ports))
	for _, p := range svc.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		ports = append(ports, Port{Protocol: proto, Port: p.Port})
	}
	return ports
}

// Port is one (protocol, port) pair.
type Port struct {
	Protocol string
	Port     int32
}

// Key is the "namespace/name" key used in messages and as the allocator's key.
func Key(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// IngressIPsStrings returns status.loadBalancer.ingress[].ip as written.
func IngressIPsStrings(svc *corev1.Service) []string {
	out := make([]string, 0, len(svc.Status.LoadBalancer.Ingress))
	for _, ing := range svc.Status.LoadBalancer.Ingress {
		out = append(out, ing.IP)
	}
	return out
}
