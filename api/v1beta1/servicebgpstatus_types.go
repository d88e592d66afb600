package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetalLBServiceBGPStatus is the status of a ServiceBGPStatus: the peers a
// node is configured to announce a service to.
type MetalLBServiceBGPStatus struct {
	// Node is the node announcing the service.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="status.node is immutable"
	Node string `json:"node,omitempty"`

	// ServiceName is the name of the service this status is about.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="status.serviceName is immutable"
	ServiceName string `json:"serviceName,omitempty"`

	// ServiceNamespace is the namespace of the service.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="status.serviceNamespace is immutable"
	ServiceNamespace string `json:"serviceNamespace,omitempty"`

	// Peers are the names of the BGPPeers the service is configured to be
	// announced to. Whether a session is up is not shown here.
	// +optional
	Peers []string `json:"peers,omitempty"`
}

// ServiceBGPStatusSpec is empty: ServiceBGPStatus only has a status.
type ServiceBGPStatusSpec struct{}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Service Name",type=string,JSONPath=`.status.serviceName`
// +kubebuilder:printcolumn:name="Service Namespace",type=string,JSONPath=`.status.serviceNamespace`

// ServiceBGPStatus shows the BGP peers a service is configured to be
// announced to, per announcing node.
type ServiceBGPStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceBGPStatusSpec    `json:"spec,omitempty"`
	Status MetalLBServiceBGPStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ServiceBGPStatusList contains a list of ServiceBGPStatus.
type ServiceBGPStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceBGPStatus `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ServiceBGPStatus{}, &ServiceBGPStatusList{})
}
