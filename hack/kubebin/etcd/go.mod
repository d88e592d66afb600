module ironlb.local/kubebin/etcd

go 1.26

// hack/kube-binaries.sh writes the real requirements into a scratch copy; this file
// only keeps etcd out of the main module.
