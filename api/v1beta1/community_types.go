package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CommunityAlias gives a name to a BGP community value.
type CommunityAlias struct {
	// Name of the alias, used in BGPAdvertisement.spec.communities.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name,omitempty"`

	// Value is the community: AA:NN (16-bit numbers) or large:A:B:C (32-bit numbers).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="(self.trim().matches('^[0-9]{1,10}:[0-9]{1,10}$') && int(self.trim().split(':')[0]) <= 65535 && int(self.trim().split(':')[1]) <= 65535) || (self.trim().matches('^large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$') && int(self.trim().split(':')[1]) <= 4294967295 && int(self.trim().split(':')[2]) <= 4294967295 && int(self.trim().split(':')[3]) <= 4294967295)",message="spec.communities[].value must be AA:NN (16-bit numbers) or large:A:B:C (32-bit numbers)"
	Value string `json:"value,omitempty"`
}

// CommunitySpec defines the desired state of Community.
type CommunitySpec struct {
	// Communities is the list of aliases.
	// +optional
	// +kubebuilder:validation:MaxItems=1024
	Communities []CommunityAlias `json:"communities,omitempty"`
}

// CommunityStatus defines the observed state of Community.
type CommunityStatus struct{}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status

// Community is a set of named aliases for BGP communities, to be used in
// BGPAdvertisements.
type Community struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CommunitySpec   `json:"spec,omitempty"`
	Status CommunityStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// CommunityList contains a list of Community.
type CommunityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Community `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Community{}, &CommunityList{})
}
