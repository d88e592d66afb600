package bgplab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"syscall"

	"github.com/ironlb/ironlb/internal/bgp"
	"github.com/ironlb/ironlb/test/netlab"
)

// helperEnv selects the helper role when a test binary re-executes itself
// inside a node namespace (GoBGP opens its sockets from its own goroutines,
// so the engine must run in a process that lives in the node's namespace).
const helperEnv = "IRONLB_BGPLAB_HELPER"

// HelperMain must be the first call in TestMain of every test binary that
// uses StartSpeaker. In a helper child it runs the helper and exits.
func HelperMain() {
	role := os.Getenv(helperEnv)
	if role == "" {
		return
	}
	_ = os.Unsetenv(helperEnv)
	var err error
	switch role {
	case "speaker":
		err = runSpeaker(os.Args[1:], os.Stdin, os.Stdout)
	case "echo":
		err = runEcho(os.Args[1:])
	default:
		err = fmt.Errorf("unknown bgplab helper role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bgplab helper %s: %v\n", role, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// request is one line on the helper's stdin.
type request struct {
	Desired  *bgp.Desired `json:"desired,omitempty"`
	Sessions bool         `json:"sessions,omitempty"`
}

// reply is one line on the helper's stdout.
type reply struct {
	Refused  []string           `json:"refused,omitempty"`
	Error    string             `json:"error,omitempty"`
	Sessions []bgp.SessionState `json:"sessions,omitempty"`
}

func runSpeaker(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("speaker", flag.ContinueOnError)
	routerID := fs.String("router-id", "", "BGP router ID")
	asn := fs.Uint("asn", 64512, "global ASN")
	grTime := fs.Uint("gr-time", 0, "graceful restart time (s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	id, err := netip.ParseAddr(*routerID)
	if err != nil {
		return err
	}
	ctx := context.Background()
	eng, err := bgp.New(ctx, bgp.Options{RouterID: id, ASN: uint32(*asn), GracefulRestartTime: uint32(*grTime)})
	if err != nil {
		return err
	}
	// SIGTERM: close sessions cleanly (a Cease to every peer); SIGKILL is
	// the crash case.
	sc := make(chan os.Signal, 1)
	signalNotify(sc)
	go func() { <-sc; eng.Close(); os.Exit(0) }()
	enc := json.NewEncoder(out)
	sc2 := bufio.NewScanner(in)
	sc2.Buffer(make([]byte, 1<<20), 64<<20)
	for sc2.Scan() {
		var req request
		var rep reply
		if err := json.Unmarshal(sc2.Bytes(), &req); err != nil {
			rep.Error = err.Error()
		} else if req.Desired != nil {
			refused, err := eng.Apply(ctx, *req.Desired)
			for _, r := range refused {
				rep.Refused = append(rep.Refused, r.Error())
			}
			if err != nil {
				rep.Error = err.Error()
			}
		} else if req.Sessions {
			s, err := eng.Sessions(ctx)
			rep.Sessions = s
			if err != nil {
				rep.Error = err.Error()
			}
		}
		if err := enc.Encode(rep); err != nil {
			return err
		}
	}
	eng.Close()
	return sc2.Err()
}

// Speaker is a running engine in a node namespace.
type Speaker struct {
	NS  string
	cmd *exec.Cmd

	mu  sync.Mutex
	in  io.WriteCloser
	out *json.Decoder
}

// StartSpeaker runs the BGP engine in namespace ns (re-executing the test
// binary; see HelperMain). It is killed by the lab's Close.
func StartSpeaker(l *netlab.Lab, ns string, routerID netip.Addr, extra ...string) (*Speaker, error) {
	cmd, err := helper(ns, "speaker", append([]string{"-router-id", routerID.String()}, extra...)...)
	if err != nil {
		return nil, err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := l.Start(cmd); err != nil {
		return nil, err
	}
	return &Speaker{NS: ns, cmd: cmd, in: in, out: json.NewDecoder(out)}, nil
}

func (s *Speaker) call(req request) (reply, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := json.Marshal(req)
	if _, err := s.in.Write(append(b, '\n')); err != nil {
		return reply{}, err
	}
	var rep reply
	if err := s.out.Decode(&rep); err != nil {
		return reply{}, err
	}
	return rep, nil
}

// Apply sends a desired state; it returns the refused peers' messages.
func (s *Speaker) Apply(d bgp.Desired) ([]string, error) {
	rep, err := s.call(request{Desired: &d})
	if err != nil {
		return nil, err
	}
	if rep.Error != "" {
		return rep.Refused, errors.New(rep.Error)
	}
	return rep.Refused, nil
}

// Sessions reports the engine's sessions.
func (s *Speaker) Sessions() ([]bgp.SessionState, error) {
	rep, err := s.call(request{Sessions: true})
	if err != nil {
		return nil, err
	}
	if rep.Error != "" {
		return rep.Sessions, errors.New(rep.Error)
	}
	return rep.Sessions, nil
}

// Kill SIGKILLs the speaker (a crash: no Cease is sent).
func (s *Speaker) Kill() error {
	if err := s.cmd.Process.Kill(); err != nil {
		return err
	}
	_ = s.cmd.Wait()
	return nil
}

// Stop closes stdin: the engine sends a Cease to each peer and exits.
func (s *Speaker) Stop() error {
	_ = s.in.Close()
	return s.cmd.Wait()
}

func helper(ns, role string, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := netlab.Command(ns, exe, args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+role)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Stderr = os.Stderr
	return cmd, nil
}

// StartEcho runs an HTTP server on :8080 in ns answering name (the
// Service's backend on a node; it outlives speaker restarts).
func StartEcho(l *netlab.Lab, ns, name string) error {
	cmd, err := helper(ns, "echo", name)
	if err != nil {
		return err
	}
	return l.Start(cmd)
}

func runEcho(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: echo NAME")
	}
	ln, err := net.Listen("tcp", ":8080")
	if err != nil {
		return err
	}
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, args[0]) }))
}
