package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IPAddressPoolSpec defines the desired state of IPAddressPool.
type IPAddressPoolSpec struct {
	// How the address rules below work (CEL has no IP ordering and no
	// variables): the third rule binds values with one-element lists
	// ([x].all(a, ...) and [x].map(v, ...)[0]). IPv4 ends are compared as
	// 32-bit integers. IPv6 ends are expanded to 32 hex digits ("::" filled
	// with zero groups, every group padded to 4 digits) and compared as
	// strings. IPv6 ends written with an embedded IPv4 part (::1.2.3.4) are not
	// ordered here; the controller's parser still rejects reversed ranges.
	// The item maxLength of 100 keeps that rule within the API server's cost
	// budget for 1024 items; the longest valid entry (two fully written IPv6
	// addresses) is 81 characters.

	// Addresses are the IP ranges the pool hands out. Each entry is either a
	// CIDR prefix (a single IP needs /32 or /128) or an explicit start-end
	// range of IPs of the same family, like 192.168.9.1-192.168.9.5.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=100
	// +kubebuilder:validation:items:XValidation:rule="self.contains('-') ? (size(self.split('-')) == 2 && isIP(self.split('-')[0].trim()) && isIP(self.split('-')[1].trim())) : isCIDR(self)",message="spec.addresses: each entry must be a CIDR (like 192.168.10.0/24) or a range of two IPs (like 192.168.9.1-192.168.9.5)"
	// +kubebuilder:validation:items:XValidation:rule="!self.contains('-') || size(self.split('-')) != 2 || !isIP(self.split('-')[0].trim()) || !isIP(self.split('-')[1].trim()) || ip(self.split('-')[0].trim()).family() == ip(self.split('-')[1].trim()).family()",message="spec.addresses: both ends of a range must be of the same IP family"
	// +kubebuilder:validation:items:XValidation:rule="!self.contains('-') || size(self.split('-')) != 2 || [self.split('-')[0].trim().lowerAscii()].all(a, [self.split('-')[1].trim().lowerAscii()].all(b, !isIP(a) || !isIP(b) || ip(a).family() != ip(b).family() || (ip(a).family() == 4 ? (int(a.split('.')[0]) * 16777216 + int(a.split('.')[1]) * 65536 + int(a.split('.')[2]) * 256 + int(a.split('.')[3])) <= (int(b.split('.')[0]) * 16777216 + int(b.split('.')[1]) * 65536 + int(b.split('.')[2]) * 256 + int(b.split('.')[3])) : (a.contains('.') || b.contains('.') || [[[a.startsWith('::') ? '0' + a : a].map(y, y.endsWith('::') ? y + '0' : y)[0]].map(u, u.replace('::', ':0:0:0:0:0:0:0:0:'.substring(0, 2 * (9 - size(u.split(':'))) + 1)))[0]].map(e, [e.split(':')[0]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[1]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[2]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[3]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[4]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[5]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[6]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[7]].map(g, ('0000' + g).substring(size(g)))[0])[0] <= [[[b.startsWith('::') ? '0' + b : b].map(y, y.endsWith('::') ? y + '0' : y)[0]].map(u, u.replace('::', ':0:0:0:0:0:0:0:0:'.substring(0, 2 * (9 - size(u.split(':'))) + 1)))[0]].map(e, [e.split(':')[0]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[1]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[2]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[3]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[4]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[5]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[6]].map(g, ('0000' + g).substring(size(g)))[0] + [e.split(':')[7]].map(g, ('0000' + g).substring(size(g)))[0])[0]))))",message="spec.addresses: the start of a range must not be after its end"
	Addresses []string `json:"addresses"`

	// AutoAssign lets the controller pick addresses from this pool for
	// services that do not ask for a pool. Set it to false to only hand out
	// addresses on explicit request.
	// +optional
	// +kubebuilder:default:=true
	AutoAssign *bool `json:"autoAssign,omitempty"`

	// AvoidBuggyIPs skips IPv4 addresses ending in .0 and .255.
	// +optional
	// +kubebuilder:default:=false
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`

	// AllocateTo restricts the pool to some namespaces and/or services and
	// sets its priority. When several pools match a service, the one with the
	// lowest priority value is tried first; pools without a priority come last.
	// +optional
	AllocateTo *ServiceAllocation `json:"serviceAllocation,omitempty"`
}

// ServiceAllocation says which services may get addresses from a pool.
type ServiceAllocation struct {
	// Priority of the pool for the services it matches. Lower is preferred;
	// 0 or unset means the pool is only used after every pool that has one.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Priority int `json:"priority,omitempty"`

	// Namespaces the pool may serve.
	// +optional
	// +listType=set
	Namespaces []string `json:"namespaces,omitempty"`

	// NamespaceSelectors select the namespaces the pool may serve, as an
	// alternative to listing them.
	// +optional
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`

	// ServiceSelectors select the services the pool may serve.
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// IPAddressPoolStatus is the observed state of an IPAddressPool, written by
// the controller. A count that does not fit in an int64 (an IPv6 /64 or
// larger) is reported as the largest int64.
type IPAddressPoolStatus struct {
	// AssignedIPv4 is the number of IPv4 addresses assigned to services.
	// +optional
	AssignedIPv4 int64 `json:"assignedIPv4"`
	// AssignedIPv6 is the number of IPv6 addresses assigned to services.
	// +optional
	AssignedIPv6 int64 `json:"assignedIPv6"`
	// AvailableIPv4 is the number of IPv4 addresses still free.
	// +optional
	AvailableIPv4 int64 `json:"availableIPv4"`
	// AvailableIPv6 is the number of IPv6 addresses still free.
	// +optional
	AvailableIPv6 int64 `json:"availableIPv6"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Auto Assign",type=boolean,JSONPath=`.spec.autoAssign`
// +kubebuilder:printcolumn:name="Avoid Buggy IPs",type=boolean,JSONPath=`.spec.avoidBuggyIPs`
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`

// IPAddressPool is a set of IP addresses that can be allocated to
// LoadBalancer services.
type IPAddressPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IPAddressPoolSpec   `json:"spec"`
	Status IPAddressPoolStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// IPAddressPoolList contains a list of IPAddressPool.
type IPAddressPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAddressPool `json:"items"`
}

func init() {
	SchemeBuilder.Register(&IPAddressPool{}, &IPAddressPoolList{})
}
