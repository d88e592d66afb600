package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConfigurationStateResult is the outcome of validating the whole configuration.
// +kubebuilder:validation:Enum=Valid;Invalid;Unknown
type ConfigurationStateResult string

const (
	// ConfigurationStateResultValid: the last configuration was parsed and applied.
	ConfigurationStateResultValid ConfigurationStateResult = "Valid"
	// ConfigurationStateResultInvalid: the configuration has errors; the last good one is still in use.
	ConfigurationStateResultInvalid ConfigurationStateResult = "Invalid"
	// ConfigurationStateResultUnknown: the component has not reported yet.
	ConfigurationStateResultUnknown ConfigurationStateResult = "Unknown"
)

// Condition types and reasons written to ConfigurationState.status.conditions.
const (
	// ConditionConfigReconcilerValid is reported by speakers.
	ConditionConfigReconcilerValid = "configReconcilerValid"
	// ConditionPoolReconcilerValid is reported by the controller.
	ConditionPoolReconcilerValid = "poolReconcilerValid"

	// ReasonReconciled: the reconciler applied the configuration.
	ReasonReconciled = "Reconciled"
	// ReasonConfigurationError: the configuration is invalid.
	ReasonConfigurationError = "ConfigurationError"
	// ReasonUnknownError: the reconciler failed for another reason.
	ReasonUnknownError = "UnknownError"
)

// ConfigurationStateStatus is what a component found when it last parsed
// the configuration.
type ConfigurationStateStatus struct {
	// Result of the last validation: Valid, Invalid or Unknown.
	// +optional
	Result ConfigurationStateResult `json:"result,omitempty"`

	// ErrorSummary holds the error messages of the last failed
	// reconciliation, joined. Empty when Result is Valid.
	// +optional
	ErrorSummary string `json:"errorSummary,omitempty"`

	// Conditions reported by the reconcilers of the component.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchMergeKey=type
	// +patchStrategy=merge
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Result",type=string,JSONPath=`.status.result`
// +kubebuilder:printcolumn:name="ErrorSummary",type=string,JSONPath=`.status.errorSummary`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ConfigurationState reports whether a component (the controller, or the
// speaker of one node) accepted the configuration. It has only a status.
// The controller's object is named "controller", a speaker's
// "speaker-<node>"; both carry the labels metallb.io/component-type and,
// for speakers, metallb.io/node-name.
type ConfigurationState struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status ConfigurationStateStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ConfigurationStateList contains a list of ConfigurationState.
type ConfigurationStateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ConfigurationState `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ConfigurationState{}, &ConfigurationStateList{})
}
