package whyapp

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// Command is a parsed `kubectl ironlb` command line.
type Command struct {
	Verb            string // why, pools or version
	Name            string // the Service, for why
	Namespace       string // the Service's namespace, for why
	ConfigNamespace string
	LBClass         string
	Kubeconfig      string
}

// Usage is the plugin's help text.
const Usage = `usage:
  kubectl ironlb why [-n NAMESPACE] SERVICE   why a LoadBalancer Service has or lacks its IP
  kubectl ironlb pools                        every pool: ranges, used/free, Services, why rejected
  kubectl ironlb version
flags (before or after the Service name):
  -n, --namespace NS          namespace of the Service (default "default")
  --config-namespace NS       namespace of the metallb.io configuration (default "metallb-system")
  --lb-class CLASS            the controller's --lb-class, if set
  --kubeconfig PATH           kubeconfig (default: KUBECONFIG, ~/.kube/config, in-cluster)`

// ErrUsage is returned for a command line that does not parse; the message says why.
var ErrUsage = errors.New("usage")

// ParseArgs parses the plugin's arguments (without the program name). Flags may
// come before or after the Service name, as with kubectl itself:
// `kubectl ironlb why -n shop web` and `kubectl ironlb why web -n shop` are the
// same. Go's flag package stops at the first non-flag, so parsing resumes after
// each positional argument.
func ParseArgs(args []string) (Command, error) {
	cmd := Command{Namespace: "default", ConfigNamespace: "metallb-system"}
	if len(args) == 0 {
		return cmd, fmt.Errorf("%w: no command", ErrUsage)
	}
	cmd.Verb = args[0]
	switch cmd.Verb {
	case "why", "pools", "version", "--version", "-version":
	default:
		return cmd, fmt.Errorf("%w: unknown command %q", ErrUsage, cmd.Verb)
	}
	if cmd.Verb != "why" && cmd.Verb != "pools" {
		cmd.Verb = "version"
		return cmd, nil
	}
	fs := flag.NewFlagSet(cmd.Verb, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cmd.Namespace, "n", cmd.Namespace, "")
	fs.StringVar(&cmd.Namespace, "namespace", cmd.Namespace, "")
	fs.StringVar(&cmd.ConfigNamespace, "config-namespace", cmd.ConfigNamespace, "")
	fs.StringVar(&cmd.LBClass, "lb-class", "", "")
	fs.StringVar(&cmd.Kubeconfig, "kubeconfig", "", "")
	var positional []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			return cmd, fmt.Errorf("%w: %v", ErrUsage, err)
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		rest = rest[1:]
	}
	switch {
	case cmd.Verb == "why" && len(positional) != 1:
		return cmd, fmt.Errorf("%w: why takes exactly one Service name, got %d: %q", ErrUsage, len(positional), positional)
	case cmd.Verb == "pools" && len(positional) != 0:
		return cmd, fmt.Errorf("%w: pools takes no argument, got %q", ErrUsage, positional)
	}
	if cmd.Verb == "why" {
		cmd.Name = positional[0]
	}
	return cmd, nil
}
