package lab

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"

	"github.com/ironlb/ironlb/test/netlab"
)

// helperEnv selects a helper role when a binary that uses this package
// re-executes itself inside a lab namespace.
const helperEnv = "IRONLB_LAB_HELPER"

// HelperMain must be the first call in main() (or TestMain) of every binary
// that calls Start or RunProbe: the lab re-executes the current binary under
// `ip netns exec <ns>` to run its helpers (the control plane inside the
// apiserver namespace, the node servers, the client probe). In such a child,
// HelperMain runs the helper and exits; otherwise it returns at once.
func HelperMain() {
	role := os.Getenv(helperEnv)
	if role == "" {
		return
	}
	_ = os.Unsetenv(helperEnv)
	var err error
	switch role {
	case "controlplane":
		err = runControlPlane(os.Args[1:])
	case "echo":
		err = runEcho(os.Args[1:])
	case "probe":
		err = runProbe(os.Args[1:])
	default:
		err = fmt.Errorf("unknown lab helper role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lab helper %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// helperCommand re-executes the current binary as helper role inside ns.
func helperCommand(ns, role string, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := netlab.Command(ns, exe, args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+role)
	cmd.SysProcAttr = childAttrs()
	return cmd, nil
}

// childAttrs: own process group (a terminal's Ctrl-C reaches only the lab
// process, which tears down in order) and SIGKILL when the lab process dies.
func childAttrs() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
