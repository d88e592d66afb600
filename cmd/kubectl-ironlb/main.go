// Command kubectl-ironlb is a kubectl plugin. `kubectl ironlb why SERVICE [-n NS]`
// says whether a LoadBalancer Service has its IP and, if not, why and what to do.
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/app/whyapp"
	"github.com/ironlb/ironlb/internal/scheme"
)

func usage() {
	fmt.Fprintln(os.Stderr, "usage: kubectl ironlb why SERVICE [-n NAMESPACE] [--config-namespace metallb-system] [--lb-class CLASS] [--kubeconfig PATH]")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 3 || os.Args[1] != "why" {
		usage()
	}
	name := os.Args[2]
	fs := flag.NewFlagSet("why", flag.ExitOnError)
	ns := fs.String("n", "default", "namespace of the Service")
	fs.StringVar(ns, "namespace", "default", "namespace of the Service")
	cfgNS := fs.String("config-namespace", "metallb-system", "namespace of the metallb.io configuration")
	lbClass := fs.String("lb-class", "", "the controller's --lb-class, if set")
	kubeconfig := fs.String("kubeconfig", "", "path to a kubeconfig (default: KUBECONFIG, ~/.kube/config, in-cluster)")
	_ = fs.Parse(os.Args[3:])
	if *kubeconfig != "" {
		os.Setenv("KUBECONFIG", *kubeconfig)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "no Kubernetes API configuration: set KUBECONFIG or pass --kubeconfig:", err)
		os.Exit(1)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := whyapp.Run(ctrl.SetupSignalHandler(), c, whyapp.Options{Namespace: *ns, Name: name, ConfigNamespace: *cfgNS, LBClass: *lbClass}, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
