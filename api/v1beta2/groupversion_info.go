// Package v1beta2 holds the metallb.io/v1beta2 API types that ironlb serves:
// BGPPeer, whose v1beta2 version is the one stored. The JSON shape matches
// MetalLB v0.16.
//
// +kubebuilder:object:generate=true
// +groupName=metallb.io
package v1beta2

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is metallb.io/v1beta2.
	GroupVersion = schema.GroupVersion{Group: "metallb.io", Version: "v1beta2"}

	// SchemeBuilder registers the types of this package.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
