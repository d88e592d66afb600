// Command controller is ironlb's controller: it gives LoadBalancer Services their IPs
// from the metallb.io IPAddressPools. It runs in a cluster (in-cluster config) or
// outside one (--kubeconfig or KUBECONFIG).
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ironlb/ironlb/internal/app/controllerapp"
	ironlbruntime "github.com/ironlb/ironlb/internal/runtime"
	"github.com/ironlb/ironlb/internal/version"
)

func main() {
	var opts controllerapp.Options
	opts.BindFlags(flag.CommandLine)
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	printVersion := flag.Bool("version", false, "print the version and exit")
	// --kubeconfig is registered by controller-runtime's config loader.
	flag.Parse()
	if *printVersion {
		fmt.Println(version.String("controller"))
		return
	}

	logger, err := ironlbruntime.SetupLogging(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logger.Info("starting", "version", version.Version, "revision", version.Revision)
	cfg, err := ctrl.GetConfig()
	if err != nil {
		logger.Error("no Kubernetes API configuration: run in a cluster, or pass --kubeconfig or set KUBECONFIG", "error", err)
		os.Exit(1)
	}
	if err := controllerapp.Run(ctrl.SetupSignalHandler(), cfg, opts); err != nil {
		logger.Error("controller stopped", "error", err)
		os.Exit(1)
	}
}
