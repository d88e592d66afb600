// Package scheme builds the runtime.Scheme every ironlb binary and test uses: the
// core Kubernetes types and the metallb.io API in both versions.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	metallbv1beta2 "github.com/ironlb/ironlb/api/v1beta2"
)

// New returns a scheme with core types and metallb.io v1beta1 and v1beta2.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	// AddToScheme only fails on conflicting registrations, a programming error.
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, metallbv1beta1.AddToScheme, metallbv1beta2.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}
