package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MetalLBServiceL2Status is the status of a ServiceL2Status: which node
// answers for a service in layer 2 mode, and on which interfaces.
type MetalLBServiceL2Status struct {
	// Node is the node that receives the traffic for the service.
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

	// Interfaces are the interfaces the service is announced on. Empty when
	// it is announced on all of them.
	// +optional
	Interfaces []InterfaceInfo `json:"interfaces,omitempty"`
}

// InterfaceInfo names a network interface used for a layer 2 announcement.
type InterfaceInfo struct {
	// Name of the network interface.
	// +optional
	Name string `json:"name,omitempty"`
}

// ServiceL2StatusSpec is empty: ServiceL2Status only has a status.
type ServiceL2StatusSpec struct{}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Allocated Node",type=string,JSONPath=`.status.node`
// +kubebuilder:printcolumn:name="Service Name",type=string,JSONPath=`.status.serviceName`
// +kubebuilder:printcolumn:name="Service Namespace",type=string,JSONPath=`.status.serviceNamespace`

// ServiceL2Status shows which node announces a LoadBalancer service in layer
// 2 mode. Speakers write one per (service, announcing node).
type ServiceL2Status struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ServiceL2StatusSpec    `json:"spec,omitempty"`
	Status MetalLBServiceL2Status `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ServiceL2StatusList contains a list of ServiceL2Status.
type ServiceL2StatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceL2Status `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ServiceL2Status{}, &ServiceL2StatusList{})
}
