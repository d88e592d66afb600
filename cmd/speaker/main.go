// Command speaker is ironlb's per-node speaker: it answers ARP and NDP for the
// Service IPs the controller assigned and this node was elected to announce. It
// runs as a DaemonSet with hostNetwork (in-cluster config) or outside a cluster
// (--kubeconfig or KUBECONFIG).
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ironlb/ironlb/internal/app/speakerapp"
)

func main() {
	var opts speakerapp.Options
	opts.BindFlags(flag.CommandLine)
	logLevel := flag.String("log-level", "info", "log level: debug, info, warn or error")
	// --kubeconfig is registered by controller-runtime's config loader.
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "invalid --log-level %q: use debug, info, warn or error\n", *logLevel)
		os.Exit(2)
	}
	if opts.NodeName == "" {
		fmt.Fprintln(os.Stderr, "no node name: pass --node-name or set METALLB_NODE_NAME (the DaemonSet sets it from spec.nodeName)")
		os.Exit(2)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	ctrl.SetLogger(logr.FromSlogHandler(logger.Handler()))

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
