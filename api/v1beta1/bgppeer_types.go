package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BGPPeer v1beta1 is deprecated: it is served so that old manifests keep
// working, but objects are stored as v1beta2.
//
// MetalLB converts between the two versions with a webhook. ironlb runs no
// webhooks, so the CRD uses the "None" conversion strategy, where the API
// server only rewrites apiVersion. That is safe because this schema is a
// strict subset of the v1beta2 one: every field here exists in v1beta2 with
// the same JSON name and a type that accepts every value accepted here
// (nodeSelectors items are a subset of metav1.LabelSelector, and durations
// are strings in both). A v1beta1 object is therefore stored, unchanged, as
// a valid v1beta2 object. Two differences from MetalLB's conversion: unset
// timers stay unset (MetalLB writes explicit zero durations), and reading a
// v1beta2 object through v1beta1 does not drop v1beta2-only fields.

// MatchExpression is the legacy (v1beta1) form of a label selector requirement.
type MatchExpression struct {
	Key      string `json:"key"`
	Operator string `json:"operator"`
	// +kubebuilder:validation:MinItems:=1
	Values []string `json:"values"`
}

// NodeSelector is the legacy (v1beta1) form of a node label selector. Its
// JSON shape is a subset of metav1.LabelSelector.
type NodeSelector struct {
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
	// +optional
	MatchExpressions []MatchExpression `json:"matchExpressions,omitempty"`
}

// BGPPeerSpec defines the desired state of a v1beta1 BGPPeer.
// +kubebuilder:validation:XValidation:rule="!has(self.holdTime) || !has(self.keepaliveTime) || duration(self.keepaliveTime) <= duration(self.holdTime)",message="spec.keepaliveTime must not be greater than spec.holdTime",fieldPath=".keepaliveTime"
// +kubebuilder:validation:XValidation:rule="has(self.holdTime) || !has(self.keepaliveTime) || duration(self.keepaliveTime) == duration('0s') || duration(self.keepaliveTime) >= duration('1s')",message="spec.keepaliveTime without spec.holdTime must be 0 or at least 1s (the hold time is then 3 times the keepalive time, and must be 0 or at least 3s)",fieldPath=".keepaliveTime"
// +kubebuilder:validation:XValidation:rule="!has(self.ebgpMultiHop) || !self.ebgpMultiHop || self.peerASN != self.myASN",message="spec.ebgpMultiHop cannot be set for an iBGP peer (spec.peerASN equal to spec.myASN)",fieldPath=".ebgpMultiHop"
type BGPPeerSpec struct {
	// MyASN is the AS number of the local end of the session.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	MyASN uint32 `json:"myASN"`

	// ASN is the AS number expected from the remote end of the session.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	ASN uint32 `json:"peerASN"`

	// Address to dial when establishing the session.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="spec.peerAddress must be an IP address"
	Address string `json:"peerAddress"`

	// SrcAddress is the source address to use for the session.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self == '' || isIP(self)",message="spec.sourceAddress must be an IP address"
	SrcAddress string `json:"sourceAddress,omitempty"`

	// Port to dial when establishing the session. 0 means 179.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=16384
	Port uint16 `json:"peerPort,omitempty"`

	// HoldTime is the requested BGP hold time, per RFC 4271: 0 or at least 3s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="duration(self) == duration('0s') || duration(self) >= duration('3s')",message="spec.holdTime must be 0 or at least 3s"
	HoldTime metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime is the requested BGP keepalive time, per RFC 4271.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="spec.keepaliveTime must not be negative"
	KeepaliveTime metav1.Duration `json:"keepaliveTime,omitempty"`

	// RouterID is the BGP router ID to advertise to the peer.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self == '' || isIP(self)",message="spec.routerID must be an IP address"
	RouterID string `json:"routerID,omitempty"`

	// NodeSelectors limit the nodes that connect to this peer.
	// +optional
	NodeSelectors []NodeSelector `json:"nodeSelectors,omitempty"`

	// Password for routers enforcing TCP MD5 authenticated sessions.
	// +optional
	Password string `json:"password,omitempty"`

	// BFDProfile names the BFDProfile used for the session's BFD session.
	// +optional
	BFDProfile string `json:"bfdProfile,omitempty"`

	// EBGPMultiHop says the eBGP peer is several hops away.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`
}

// BGPPeerStatus defines the observed state of BGPPeer.
type BGPPeerStatus struct{}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:deprecatedversion:warning="v1beta1 is deprecated, please use v1beta2"
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="ASN",type=string,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="BFD Profile",type=string,JSONPath=`.spec.bfdProfile`
// +kubebuilder:printcolumn:name="Multi Hops",type=string,JSONPath=`.spec.ebgpMultiHop`

// BGPPeer is a BGP router that speakers open sessions to (deprecated
// version; use v1beta2).
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPPeerSpec   `json:"spec,omitempty"`
	Status BGPPeerStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// BGPPeerList contains a list of BGPPeer.
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BGPPeer{}, &BGPPeerList{})
}
