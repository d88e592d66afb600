package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPAdvertisementSpec defines the desired state of BGPAdvertisement.
// +kubebuilder:validation:XValidation:rule="!has(self.serviceSelectors) || size(self.serviceSelectors) == 0 || ((!has(self.aggregationLength) || self.aggregationLength == 32) && (!has(self.aggregationLengthV6) || self.aggregationLengthV6 == 128))",message="spec.serviceSelectors can only be used with the default spec.aggregationLength (32) and spec.aggregationLengthV6 (128)",fieldPath=".serviceSelectors"
type BGPAdvertisementSpec struct {
	// AggregationLength is the prefix length IPv4 addresses are announced
	// with; a value below 32 rolls the /32s up into a larger prefix.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32
	// +kubebuilder:default:=32
	AggregationLength *int32 `json:"aggregationLength,omitempty"`

	// AggregationLengthV6 is the same as AggregationLength for IPv6 addresses.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=128
	// +kubebuilder:default:=128
	AggregationLengthV6 *int32 `json:"aggregationLengthV6,omitempty"`

	// LocalPref is the BGP LOCAL_PREF attribute sent with the announcements
	// (to iBGP peers). Paths with a higher value are preferred.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	LocalPref uint32 `json:"localPref,omitempty"`

	// Communities attached to the announcements. Each entry is a literal
	// community (AA:NN, 16 bits each, or large:A:B:C, 32 bits each) or the
	// name of an alias defined in a Community object.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:XValidation:rule="!self.trim().contains(':') || (self.trim().matches('^[0-9]{1,10}:[0-9]{1,10}$') && int(self.trim().split(':')[0]) <= 65535 && int(self.trim().split(':')[1]) <= 65535) || (self.trim().matches('^large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') && int(self.trim().split(':')[1]) <= 4294967295 && int(self.trim().split(':')[2]) <= 4294967295 && int(self.trim().split(':')[3]) <= 4294967295)",message="spec.communities: a community must be AA:NN (16-bit numbers), large:A:B:C (32-bit numbers) or the name of a Community alias"
	Communities []string `json:"communities,omitempty"`

	// IPAddressPools lists the pools, by name, to announce with this advertisement.
	// When both this and IPAddressPoolSelectors are empty, every pool is announced.
	// +optional
	IPAddressPools []string `json:"ipAddressPools,omitempty"`

	// IPAddressPoolSelectors select the pools to announce by their labels.
	// +optional
	IPAddressPoolSelectors []metav1.LabelSelector `json:"ipAddressPoolSelectors,omitempty"`

	// NodeSelectors limit the nodes that announce the addresses. Empty means all nodes.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Peers limits the announcements to these BGPPeers, by name. Empty means all peers.
	// +optional
	Peers []string `json:"peers,omitempty"`

	// ServiceSelectors limit the advertisement to the services they match.
	// Only allowed with the default aggregation lengths.
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// BGPAdvertisementStatus defines the observed state of BGPAdvertisement.
type BGPAdvertisementStatus struct{}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="IPAddressPools",type=string,JSONPath=`.spec.ipAddressPools`
// +kubebuilder:printcolumn:name="IPAddressPool Selectors",type=string,JSONPath=`.spec.ipAddressPoolSelectors`
// +kubebuilder:printcolumn:name="Peers",type=string,JSONPath=`.spec.peers`
// +kubebuilder:printcolumn:name="Node Selectors",type=string,JSONPath=`.spec.nodeSelectors`,priority=10

// BGPAdvertisement says which pools are announced over BGP, to which peers,
// from which nodes and with which attributes.
type BGPAdvertisement struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPAdvertisementSpec   `json:"spec,omitempty"`
	Status BGPAdvertisementStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BGPAdvertisementList contains a list of BGPAdvertisement.
type BGPAdvertisementList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPAdvertisement `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BGPAdvertisement{}, &BGPAdvertisementList{})
}
