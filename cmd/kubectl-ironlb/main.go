// Command kubectl-ironlb is a kubectl plugin:
//
//	kubectl ironlb why [-n NS] SERVICE   whether a LoadBalancer Service has its IP and, if not, why and what to do
//	kubectl ironlb pools                 every pool: ranges, used/free per family, Services, why rejected
package main

import (
	"errors"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/app/whyapp"
	"github.com/ironlb/ironlb/internal/scheme"
	"github.com/ironlb/ironlb/internal/version"
)

func main() {
	cmd, err := whyapp.ParseArgs(os.Args[1:])
	if err != nil {
		if errors.Is(err, whyapp.ErrUsage) {
			fmt.Fprintln(os.Stderr, err)
			fmt.Fprintln(os.Stderr, whyapp.Usage)
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if cmd.Verb == "version" {
		fmt.Println(version.String("kubectl-ironlb"))
		return
	}
	if cmd.Kubeconfig != "" {
		os.Setenv("KUBECONFIG", cmd.Kubeconfig)
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
	ctx := ctrl.SetupSignalHandler()
	switch cmd.Verb {
	case "why":
		err = whyapp.Run(ctx, c, whyapp.Options{Namespace: cmd.Namespace, Name: cmd.Name, ConfigNamespace: cmd.ConfigNamespace, LBClass: cmd.LBClass}, os.Stdout)
	case "pools":
		err = whyapp.Pools(ctx, c, whyapp.PoolsOptions{ConfigNamespace: cmd.ConfigNamespace, LBClass: cmd.LBClass}, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
