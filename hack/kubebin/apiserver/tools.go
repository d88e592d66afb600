//go:build tools

// Package tools pins the Kubernetes commands that ironlb's tests run for real:
// kube-apiserver (with etcd, the control plane the controller talks to) and kubectl
// (what the lab and the docs show). hack/kube-binaries.sh builds them from here.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
