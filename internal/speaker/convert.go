package speaker

import (
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/ironlb/ironlb/internal/config"
	"github.com/ironlb/ironlb/internal/svcinfo"
)

// InterfacesAnnotation is the annotation each speaker keeps on its own Node:
// the comma-separated, sorted names of the interfaces it can announce on now
// (up, not excluded, ARP or NDP capable). An empty value means none: the node
// cannot announce anything. No annotation means unknown (a speaker that never
// published, e.g. MetalLB's during a migration): the node is assumed to have
// every interface. All speakers read it to agree on which nodes can serve an
// L2Advertisement that names interfaces, and to move IPs off a node whose
// interfaces went down.
const InterfacesAnnotation = "ironlb.io/l2-interfaces"

// ParseInterfaces parses an InterfacesAnnotation value into sorted, unique
// names. Empty (or only spaces) is the empty list.
func ParseInterfaces(v string) ([]string, error) {
	out := []string{}
	if strings.TrimSpace(v) == "" {
		return out, nil
	}
	for _, f := range strings.Split(v, ",") {
		name := strings.TrimSpace(f)
		if err := config.ValidInterfaceName(name); err != nil {
			return nil, err
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// FormatInterfaces is the annotation value for names (sorted, deduplicated).
// Names that could not round-trip are dropped.
func FormatInterfaces(names []string) string {
	var ok []string
	for _, n := range names {
		if config.ValidInterfaceName(n) == nil {
			ok = append(ok, n)
		}
	}
	slices.Sort(ok)
	return strings.Join(slices.Compact(ok), ",")
}

// NodeFrom converts a Node. The interfaces come from InterfacesAnnotation; a
// value that does not parse counts as unknown.
func NodeFrom(n *corev1.Node) Node {
	out := Node{Name: n.Name, Labels: n.Labels}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue {
			out.NetworkUnavailable = true
		}
	}
	if v, ok := n.Annotations[InterfacesAnnotation]; ok {
		if ifs, err := ParseInterfaces(v); err == nil {
			out.Interfaces, out.InterfacesKnown = ifs, true
		}
	}
	return out
}

// InternalIP is the Node's first InternalIP.
func InternalIP(n *corev1.Node) (netip.Addr, bool) {
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			return ip.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// CanServe is MetalLB's EndpointCanServe: ready nil or true, or serving true.
func CanServe(c discoveryv1.EndpointConditions) bool {
	return c.Ready == nil || *c.Ready || (c.Serving != nil && *c.Serving)
}

// ServiceFrom converts a Service and its EndpointSlices.
func ServiceFrom(svc *corev1.Service, eps []*discoveryv1.EndpointSlice) Service {
	out := Service{
		Namespace: svc.Namespace, Name: svc.Name, Labels: svc.Labels,
		IPs:   svcinfo.IngressIPs(svc),
		Local: svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
	}
	for _, s := range eps {
		for _, e := range s.Endpoints {
			if !CanServe(e.Conditions) {
				continue
			}
			out.Serving = true
			if e.NodeName != nil && *e.NodeName != "" {
				if out.ServingNodes == nil {
					out.ServingNodes = map[string]bool{}
				}
				out.ServingNodes[*e.NodeName] = true
			}
		}
	}
	return out
}
