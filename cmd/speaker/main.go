// Command speaker is ironlb's per-node speaker: it answers ARP and NDP for the
// Service IPs the controller assigned and this node was elected to announce. It
// runs as a DaemonSet with hostNetwork (in-cluster config) or outside a cluster
// (--kubeconfig or KUBECONFIG).
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ironlb/ironlb/internal/app/speakerapp"
	ironlbruntime "github.com/ironlb/ironlb/internal/runtime"
	"github.com/ironlb/ironlb/internal/version"
)

func main() {
	var opts speakerapp.Options
	opts.BindFlags(flag.CommandLine)
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	printVersion := flag.Bool("version", false, "print the version and exit")
	// --kubeconfig is registered by controller-runtime's config loader.
	flag.Parse()
	if *printVersion {
		fmt.Println(version.String("speaker"))
		return
	}

	logger, err := ironlbruntime.SetupLogging(*logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	logger.Info("starting", "version", version.Version, "revision", version.Revision)
	if opts.NodeName == "" {
		fmt.Fprintln(os.Stderr, "no node name: pass --node-name or set METALLB_NODE_NAME (the DaemonSet sets it from spec.nodeName)")
		os.Exit(2)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		logger.Error("no Kubernetes API configuration: run in a cluster, or pass --kubeconfig or set KUBECONFIG", "error", err)
		os.Exit(1)
	}
	if err := speakerapp.Run(ctrl.SetupSignalHandler(), cfg, opts); err != nil {
		logger.Error("speaker stopped", "error", err)
		os.Exit(1)
	}
}
