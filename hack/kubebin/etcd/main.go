// Command etcd is a thin wrapper that builds etcd's own server from the Go module
// proxy, so ironlb's tests can run a real etcd without downloading a release binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
