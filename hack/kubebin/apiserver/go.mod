module ironlb.local/kubebin/apiserver

go 1.26

// hack/kube-binaries.sh writes the real requirements into a scratch copy; this file
// only keeps these tools out of the main module.
