package v1beta2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DynamicASNMode tells the speaker to learn the peer's AS number instead of
// configuring it.
type DynamicASNMode string

const (
	// InternalASNMode accepts the session only if the peer's ASN equals MyASN (iBGP).
	InternalASNMode DynamicASNMode = "internal"
	// ExternalASNMode accepts the session only if the peer's ASN differs from MyASN (eBGP).
	ExternalASNMode DynamicASNMode = "external"
)

// BGPPeerSpec defines the desired state of BGPPeer.
//
// Rules checked at admission that involve several fields are on this type;
// rules that need the other objects (duplicate peers, missing BFD profiles
// or secrets, fields the native BGP mode does not support) are checked at
// runtime.
// +kubebuilder:validation:XValidation:rule="(has(self.peerASN) && self.peerASN != 0) != (has(self.dynamicASN) && size(self.dynamicASN) != 0)",message="exactly one of spec.peerASN and spec.dynamicASN must be set",fieldPath=".peerASN"
// +kubebuilder:validation:XValidation:rule="(has(self.peerAddress) && size(self.peerAddress) != 0) != (has(self.interface) && size(self.interface) != 0)",message="exactly one of spec.peerAddress and spec.interface must be set",fieldPath=".peerAddress"
// +kubebuilder:validation:XValidation:rule="!(has(self.password) && size(self.password) != 0 && has(self.passwordSecret) && has(self.passwordSecret.name) && size(self.passwordSecret.name) != 0)",message="spec.password and spec.passwordSecret cannot both be set",fieldPath=".passwordSecret"
// +kubebuilder:validation:XValidation:rule="!has(self.holdTime) || !has(self.keepaliveTime) || duration(self.keepaliveTime) <= duration(self.holdTime)",message="spec.keepaliveTime must not be greater than spec.holdTime",fieldPath=".keepaliveTime"
// +kubebuilder:validation:XValidation:rule="has(self.holdTime) || !has(self.keepaliveTime) || duration(self.keepaliveTime) == duration('0s') || duration(self.keepaliveTime) >= duration('1s')",message="spec.keepaliveTime without spec.holdTime must be 0 or at least 1s (the hold time is then 3 times the keepalive time, and must be 0 or at least 3s)",fieldPath=".keepaliveTime"
// +kubebuilder:validation:XValidation:rule="!has(self.ebgpMultiHop) || !self.ebgpMultiHop || ((!has(self.peerASN) || self.peerASN != self.myASN) && (!has(self.dynamicASN) || self.dynamicASN != 'internal'))",message="spec.ebgpMultiHop cannot be set for an iBGP peer (spec.peerASN equal to spec.myASN, or spec.dynamicASN internal)",fieldPath=".ebgpMultiHop"
// +kubebuilder:validation:XValidation:rule="(has(self.enableGracefulRestart) && self.enableGracefulRestart) == (has(oldSelf.enableGracefulRestart) && oldSelf.enableGracefulRestart)",message="spec.enableGracefulRestart cannot be changed after creation",fieldPath=".enableGracefulRestart"
type BGPPeerSpec struct {
	// MyASN is the AS number of the local end of the session.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	MyASN uint32 `json:"myASN"`

	// ASN is the AS number expected from the remote end of the session.
	// Exactly one of ASN and DynamicASN must be set.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	ASN uint32 `json:"peerASN,omitempty"`

	// DynamicASN learns the remote AS number instead of setting it in ASN:
	// "internal" refuses the session unless the peer's ASN equals MyASN,
	// "external" refuses it if they are equal.
	// Exactly one of ASN and DynamicASN must be set.
	// +optional
	// +kubebuilder:validation:Enum=internal;external
	DynamicASN DynamicASNMode `json:"dynamicASN,omitempty"`

	// LocalASN is the AS number presented to the peer when it differs from
	// MyASN (FRR modes only).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	LocalASN uint32 `json:"localASN,omitempty"`

	// Address to dial when establishing the session.
	// Exactly one of Address and Interface must be set.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self == '' || isIP(self)",message="spec.peerAddress must be an IP address"
	Address string `json:"peerAddress,omitempty"`

	// Interface is the node interface to peer over with unnumbered BGP (FRR
	// modes only). The name is not checked: a wrong one only keeps the
	// session down. Exactly one of Address and Interface must be set.
	// +optional
	Interface string `json:"interface,omitempty"`

	// SrcAddress is the source address to use for the session.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self == '' || isIP(self)",message="spec.sourceAddress must be an IP address"
	SrcAddress string `json:"sourceAddress,omitempty"`

	// Port to dial when establishing the session.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16384
	// +kubebuilder:default:=179
	Port uint16 `json:"peerPort,omitempty"`

	// HoldTime is the requested BGP hold time, per RFC 4271: 0 or at least
	// 3s. When only KeepaliveTime is set it is 3 times KeepaliveTime.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="duration(self) == duration('0s') || duration(self) >= duration('3s')",message="spec.holdTime must be 0 or at least 3s"
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime is the requested BGP keepalive time, per RFC 4271. It
	// must not exceed HoldTime. When only HoldTime is set it is HoldTime/3.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="spec.keepaliveTime must not be negative"
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// ConnectTime is how long BGP waits between connection attempts to the
	// peer: 1s to 65535s, in whole seconds.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535",message="spec.connectTime must be between 1s and 65535s"
	// +kubebuilder:validation:XValidation:rule="duration(self).getMilliseconds() % 1000 == 0",message="spec.connectTime must be a whole number of seconds"
	ConnectTime *metav1.Duration `json:"connectTime,omitempty"`

	// RouterID is the BGP router ID to advertise to the peer.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self == '' || isIP(self)",message="spec.routerID must be an IP address"
	RouterID string `json:"routerID,omitempty"`

	// NodeSelectors limit the nodes that connect to this peer. Empty means all nodes.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Password for routers enforcing TCP MD5 authenticated sessions.
	// Cannot be used together with PasswordSecret.
	// +optional
	Password string `json:"password,omitempty"`

	// PasswordSecret refers to a "kubernetes.io/basic-auth" Secret in the
	// ironlb (MetalLB) namespace whose "password" key holds the password.
	// Cannot be used together with Password.
	// +optional
	PasswordSecret corev1.SecretReference `json:"passwordSecret,omitempty"`

	// BFDProfile names the BFDProfile to use for a BFD session tied to this
	// BGP session. No BFD session is set up when empty.
	// +optional
	BFDProfile string `json:"bfdProfile,omitempty"`

	// EnableGracefulRestart lets the peer keep forwarding along known routes
	// while the session restarts (FRR modes only). It cannot be changed
	// after creation, because that needs a session restart.
	// +optional
	EnableGracefulRestart bool `json:"enableGracefulRestart,omitempty"`

	// EBGPMultiHop says the eBGP peer is several hops away. Not allowed for iBGP peers.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`

	// VRFName is the host VRF whose interfaces are used to reach the peer.
	// +optional
	VRFName string `json:"vrf,omitempty"`

	// DisableMP separates IPv4 and IPv6 route exchanges into distinct BGP
	// sessions.
	// Deprecated: ignored; use DualStackAddressFamily.
	// +optional
	// +kubebuilder:default:=false
	DisableMP bool `json:"disableMP,omitempty"`

	// DualStackAddressFamily enables both address families on the session,
	// so IPv4 prefixes can be exchanged over an IPv6 session and vice versa.
	// +optional
	// +kubebuilder:default:=false
	DualStackAddressFamily bool `json:"dualStackAddressFamily,omitempty"`
}

// BGPPeerStatus defines the observed state of BGPPeer.
type BGPPeerStatus struct{}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="ASN",type=string,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="BFD Profile",type=string,JSONPath=`.spec.bfdProfile`
// +kubebuilder:printcolumn:name="Multi Hops",type=string,JSONPath=`.spec.ebgpMultiHop`

// BGPPeer is a BGP router that speakers open sessions to.
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
