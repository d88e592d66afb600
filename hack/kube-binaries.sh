#!/usr/bin/env bash
# Builds a real kube-apiserver, etcd and kubectl from the Go module proxy and caches
# them by version, so every test and the local lab run against the real API server.
# Prints the directory that holds the binaries (use it as KUBEBUILDER_ASSETS).
#
#   hack/kube-binaries.sh            build if missing, print the directory
#   IRONLB_CACHE=/some/dir ...       cache somewhere else (default ~/.cache/ironlb)
#
# A cold build takes about 6-10 minutes and ~2.5 GB of memory on 2 cores; cached, it is instant.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.7.3
here=$(cd "$(dirname "$0")" && pwd)
cache=${IRONLB_CACHE:-${HOME}/.cache/ironlb}
out="$cache/kube-$K8S_VERSION-etcd-$ETCD_VERSION"

if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" ]]; then
	echo "$out"
	exit 0
fi
mkdir -p "$out"

# Two builds at once (parallel test runs, a lab and a test) would both write the
# .tmp files; the second one waits and then finds the binaries built.
exec 9>"$out/.lock"
flock 9
if [[ -x "$out/kube-apiserver" && -x "$out/etcd" && -x "$out/kubectl" ]]; then
	echo "$out"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# kube-apiserver and kubectl: k8s.io/kubernetes replaces every staging module with a
# path inside its own tree, which a consumer cannot see. Generate the same list of
# replaces, pointing at the published staging modules of the matching version.
staging=v0${K8S_VERSION#v1}
cp "$here/kubebin/apiserver/tools.go" "$work/"
(
	cd "$work"
	modfile=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
	{
		echo "module ironlb.local/kubebin"
		echo
		echo "go 1.26"
		echo
		echo "require k8s.io/kubernetes $K8S_VERSION"
		echo
		grep -E '^\s*k8s\.io/[^ ]+ => \./staging/' "$modfile" |
			awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
	} >go.mod
	GOFLAGS=-mod=mod go mod tidy -e >/dev/null 2>&1 || true
	GOFLAGS=-mod=mod go get "k8s.io/kubernetes@$K8S_VERSION" >&2
	GOFLAGS=-mod=mod go build -trimpath -o "$out/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
	GOFLAGS=-mod=mod go build -trimpath -o "$out/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl >&2
)
mv "$out/kube-apiserver.tmp" "$out/kube-apiserver"
mv "$out/kubectl.tmp" "$out/kubectl"

# etcd: a one-line main around etcdmain, in its own module so its dependency versions
# never mix with Kubernetes'.
mkdir -p "$work/etcd"
cp "$here/kubebin/etcd/main.go" "$work/etcd/"
(
	cd "$work/etcd"
	printf 'module ironlb.local/etcd\n\ngo 1.26\n' >go.mod
	GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
	GOFLAGS=-mod=mod go mod tidy >&2
	GOFLAGS=-mod=mod go build -trimpath -o "$out/etcd.tmp" . >&2
)
mv "$out/etcd.tmp" "$out/etcd"
echo "$out"
