// Package v1beta1 holds the metallb.io/v1beta1 API types that ironlb serves.
// The JSON shape of every type matches MetalLB v0.16, so existing MetalLB
// manifests apply unchanged.
//
// +kubebuilder:object:generate=true
// +groupName=metallb.io
package v1beta1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is metallb.io/v1beta1.
	GroupVersion = schema.GroupVersion{Group: "metallb.io", Version: "v1beta1"}

	// SchemeBuilder registers the types of this package.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Labels that MetalLB puts on the objects its components create. ironlb writes
// the same ones so tooling built for MetalLB keeps working.
const (
	// LabelServiceName is set on ServiceL2Status and ServiceBGPStatus objects.
	LabelServiceName = "metallb.io/service-name"
	// LabelServiceNamespace is set on ServiceL2Status and ServiceBGPStatus objects.
	LabelServiceNamespace = "metallb.io/service-namespace"
	// LabelAnnounceNode is set on ServiceL2Status and ServiceBGPStatus objects.
	LabelAnnounceNode = "metallb.io/node"
	// LabelComponentType is set on ConfigurationState objects ("controller" or "speaker").
	LabelComponentType = "metallb.io/component-type"
	// LabelNodeName is set on the speakers' ConfigurationState objects.
	LabelNodeName = "metallb.io/node-name"
)
