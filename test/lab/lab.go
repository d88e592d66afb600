// Package lab runs ironlb end to end on one machine: a test/netlab network
// (nodes, client, switch, apiserver namespaces), a real etcd + kube-apiserver
// inside the apiserver namespace, the controller next to it, one speaker per
// node namespace, and the harness playing kubelet (Node objects),
// kube-controller-manager (EndpointSlices) and kube-proxy (local routes and a
// TCP server on every node that answers with the node name). It is the
// `ironlb-lab` command's engine and the e2e tests' and failover benchmark's
// fixture. See README.md.
//
// Binaries using Start must call HelperMain first thing in main/TestMain.
package lab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ironlb/ironlb/internal/scheme"
	"github.com/ironlb/ironlb/internal/testenv"
	"github.com/ironlb/ironlb/test/netlab"
)

// Namespace is the metallb.io configuration namespace used by the lab.
const Namespace = "metallb-system"

// Options configure Start.
type Options struct {
	// Nodes is the number of nodes (default 3).
	Nodes int
	// NoIPv6 leaves IPv6 off the data network (and the demo single-stack).
	NoIPv6 bool
	// BinDir holds the controller and speaker binaries. Empty: Start builds
	// them (go build) into the lab directory.
	BinDir string
	// RepoRoot is the ironlb checkout (default: found above the working dir).
	RepoRoot string
	// NoSpeakers starts no speakers (control plane + controller only).
	NoSpeakers bool
	// NoDemo skips the default pool, L2Advertisement and Service "demo".
	NoDemo bool
	// SpeakerArgs are appended to every speaker's command line.
	SpeakerArgs []string
	// LogDir keeps the processes' logs (controller.log, speaker-node-1.log,
	// ...) after Close. Empty: logs live in the lab directory, removed by Close.
	LogDir string
	// Logf receives progress messages (nil: silent).
	Logf func(format string, args ...any)
	// Prefix overrides netlab's namespace prefix.
	Prefix string
}

// Lab is a running lab. Close it.
type Lab struct {
	Net     *netlab.Lab
	Dir     string // temporary lab directory (kubeconfigs, binaries, logs)
	LogDir  string
	BinDir  string
	Assets  string // kube-apiserver, etcd, kubectl
	APIPort string
	Opts    Options

	cfg  *rest.Config
	kube client.Client

	cp      *exec.Cmd
	cpStdin io.WriteCloser
	cpDone  chan struct{}

	mu         sync.Mutex
	controller *managed
	speakers   map[int]*managed
	servers    []*managed
	macs       map[string]int // data-interface MAC -> node index

	stopLoops context.CancelFunc
	loops     sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// managed is a long-running process inside a lab namespace.
type managed struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

func (l *Lab) logf(format string, args ...any) {
	if l.Opts.Logf != nil {
		l.Opts.Logf(format, args...)
	}
}

// NodeName is the Kubernetes name of node i (1-based): "node-<i>".
func NodeName(i int) string { return fmt.Sprintf("node-%d", i) }

// NodeIndex parses "node-<i>"; 0 if name is not a lab node name.
func NodeIndex(name string) int {
	i, err := strconv.Atoi(strings.TrimPrefix(name, "node-"))
	if err != nil || !strings.HasPrefix(name, "node-") {
		return 0
	}
	return i
}

// Available says why the lab cannot run here (nil when it can): root,
// `ip netns`, arping and ndisc6 are needed.
func Available() error {
	if err := netlab.Available(); err != nil {
		return err
	}
	for _, tool := range []string{"arping", "ndisc6", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (apt-get install -y arping ndisc6 iputils-ping)", tool)
		}
	}
	return nil
}

// SpeakerSource reports whether the speaker can be built from root
// (cmd/speaker exists).
func SpeakerSource(root string) error {
	if _, err := os.Stat(filepath.Join(root, "cmd", "speaker")); err != nil {
		return fmt.Errorf("no speaker source (cmd/speaker): %w", err)
	}
	return nil
}

// Build builds the lab's binaries (controller, and speaker unless
// noSpeaker) from root into out.
func Build(ctx context.Context, root, out string, noSpeaker bool) error {
	pkgs := []string{"./cmd/controller"}
	if !noSpeaker {
		pkgs = append(pkgs, "./cmd/speaker")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-o", out + "/"}, pkgs...)...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, b)
	}
	return nil
}

// Start builds and starts a lab. On error everything created so far is
// removed. ctx bounds the start-up only: the lab runs until Close.
func Start(ctx context.Context, opts Options) (_ *Lab, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 3
	}
	root := opts.RepoRoot
	if root == "" {
		if root, err = testenv.RepoRoot(); err != nil {
			return nil, err
		}
	}
	opts.RepoRoot = root
	assets, err := testenv.Assets()
	if err != nil {
		return nil, err
	}
	sweepStaleDirs()
	dir, err := os.MkdirTemp("", fmt.Sprintf("ironlb-lab-%d-", os.Getpid()))
	if err != nil {
		return nil, err
	}
	l := &Lab{Dir: dir, Assets: assets, Opts: opts, speakers: map[int]*managed{}, macs: map[string]int{}, closed: make(chan struct{})}
	defer func() {
		if err != nil {
			_ = l.Close()
		}
	}()
	l.LogDir = opts.LogDir
	if l.LogDir == "" {
		l.LogDir = filepath.Join(dir, "logs")
	}
	if err := os.MkdirAll(l.LogDir, 0o755); err != nil {
		return nil, err
	}
	l.BinDir = opts.BinDir
	if l.BinDir == "" {
		l.BinDir = filepath.Join(dir, "bin")
		l.logf("building controller%s", map[bool]string{false: " and speaker", true: ""}[opts.NoSpeakers])
		if err := Build(ctx, root, l.BinDir, opts.NoSpeakers); err != nil {
			return nil, err
		}
	}
	for _, b := range []string{"controller", "speaker"} {
		if b == "speaker" && opts.NoSpeakers {
			continue
		}
		if _, err := os.Stat(filepath.Join(l.BinDir, b)); err != nil {
			return nil, fmt.Errorf("binary %s missing in %s", b, l.BinDir)
		}
	}

	l.logf("creating the network (%d nodes + client)", opts.Nodes)
	l.Net, err = netlab.New(context.Background(), netlab.Options{Nodes: opts.Nodes, IPv6: !opts.NoIPv6, Prefix: opts.Prefix})
	if err != nil {
		return nil, err
	}
	for i := 1; i <= opts.Nodes; i++ {
		// kube-proxy's strictARP settings: the kernel never answers ARP for
		// Service IPs routed locally (only the speaker does) and never uses
		// them as ARP source.
		if _, err := l.Net.Run(l.Net.NodeNS(i), "sysctl", "-q", "-w",
			"net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"); err != nil {
			return nil, err
		}
		mac, err := l.Net.NodeMAC(i)
		if err != nil {
			return nil, err
		}
		l.macs[mac] = i
	}

	l.logf("starting etcd + kube-apiserver in namespace %s (%s)", l.Net.APIServerNS, netlab.APIServerIPv4)
	if err := l.startControlPlane(ctx); err != nil {
		return nil, err
	}
	if err := l.connect(); err != nil {
		return nil, err
	}
	if err := l.createBase(ctx); err != nil {
		return nil, err
	}
	l.logf("starting the controller")
	if err := l.StartController(); err != nil {
		return nil, err
	}
	l.logf("starting node servers (kube-proxy + backend stand-ins)")
	for i := 1; i <= opts.Nodes; i++ {
		if err := l.startServer(i); err != nil {
			return nil, err
		}
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	l.stopLoops = cancel
	l.loops.Add(1)
	go func() {
		defer l.loops.Done()
		l.kubeProxyLoop(loopCtx)
	}()
	if !opts.NoSpeakers {
		l.logf("starting %d speakers", opts.Nodes)
		for i := 1; i <= opts.Nodes; i++ {
			if err := l.StartSpeaker(i); err != nil {
				return nil, err
			}
		}
	}
	if !opts.NoDemo {
		if err := l.createDemo(ctx); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func (l *Lab) startControlPlane(ctx context.Context) error {
	cmd, err := helperCommand(l.Net.APIServerNS, "controlplane", "-dir", l.Dir, "-advertise", netlab.APIServerIPv4.String())
	if err != nil {
		return err
	}
	cmd.Dir = l.Opts.RepoRoot
	cmd.Env = append(cmd.Env, "KUBEBUILDER_ASSETS="+l.Assets)
	// If the lab process dies, SIGTERM (not SIGKILL) lets the child stop
	// etcd and kube-apiserver and remove envtest's directories.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	logf, err := os.OpenFile(filepath.Join(l.LogDir, "controlplane.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if l.cpStdin, err = cmd.StdinPipe(); err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	l.cp = cmd
	l.cpDone = make(chan struct{})
	port := make(chan string, 1)
	go func() {
		defer close(l.cpDone)
		defer logf.Close()
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				port <- p
			} else {
				fmt.Fprintln(logf, sc.Text())
			}
		}
		_ = cmd.Wait()
	}()
	select {
	case l.APIPort = <-port:
		return nil
	case <-l.cpDone:
		return fmt.Errorf("control plane exited; see %s:\n%s", filepath.Join(l.LogDir, "controlplane.log"), tail(filepath.Join(l.LogDir, "controlplane.log"), 20))
	case <-time.After(3 * time.Minute):
		return errors.New("control plane not ready after 3 minutes")
	case <-ctx.Done():
		return ctx.Err()
	}
}

var staleDirRE = regexp.MustCompile(`^ironlb-lab-(\d+)-`)

// SweepStale removes what killed lab runs left: namespaces ilb-<pid>-* and
// directories $TMPDIR/ironlb-lab-<pid>-* whose process is gone. Start does
// it too.
func SweepStale() error {
	sweepStaleDirs()
	return netlab.SweepStale()
}

// sweepStaleDirs removes lab directories of dead lab processes.
func sweepStaleDirs() {
	ents, _ := os.ReadDir(os.TempDir())
	for _, e := range ents {
		m := staleDirRE.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogTail returns the last n lines of a process log (e.g. "speaker-node-1",
// "controller", "controlplane").
func (l *Lab) LogTail(name string, n int) string {
	return tail(filepath.Join(l.LogDir, name+".log"), n)
}

// connect builds the lab process's own client: the lab kubeconfig (management
// address) with connections opened inside the apiserver namespace.
func (l *Lab) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", l.KubeconfigPath())
	if err != nil {
		return err
	}
	cfg.Dial = NSDialer(l.Net.APIServerNS)
	cfg.QPS = 500
	cfg.Burst = 1000
	l.cfg = cfg
	l.kube, err = client.New(cfg, client.Options{Scheme: scheme.New()})
	return err
}

// KubeconfigPath is the kubeconfig speakers use (https://198.51.100.1:<port>,
// verified as "localhost"). It works from any lab namespace, not from the
// root namespace.
func (l *Lab) KubeconfigPath() string { return filepath.Join(l.Dir, LabKubeconfig) }

// AdminKubeconfigPath is the kubeconfig for https://127.0.0.1:<port>, valid
// inside the apiserver namespace only.
func (l *Lab) AdminKubeconfigPath() string { return filepath.Join(l.Dir, AdminKubeconfig) }

// RESTConfig is a copy of the lab process's client configuration (dials
// inside the apiserver namespace).
func (l *Lab) RESTConfig() *rest.Config { return rest.CopyConfig(l.cfg) }

// Kube is a client for the lab's API server, usable from the root namespace.
func (l *Lab) Kube() client.Client { return l.kube }

// Kubectl runs kubectl inside the apiserver namespace and returns its
// combined output.
func (l *Lab) Kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := netlab.CommandContext(ctx, l.Net.APIServerNS, filepath.Join(l.Assets, "kubectl"),
		append([]string{"--kubeconfig", l.KubeconfigPath()}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// KubectlCommandLine is a shell command to run kubectl against the lab by
// hand (as root, while the lab runs).
func (l *Lab) KubectlCommandLine() string {
	return fmt.Sprintf("ip netns exec %s %s --kubeconfig %s", l.Net.APIServerNS, filepath.Join(l.Assets, "kubectl"), l.KubeconfigPath())
}

func (l *Lab) startManaged(name, ns, bin string, args ...string) (*managed, error) {
	logf, err := os.OpenFile(filepath.Join(l.LogDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "=== %s start %s %s\n", time.Now().Format(time.RFC3339Nano), bin, strings.Join(args, " "))
	cmd := netlab.Command(ns, bin, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = childAttrs()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	m := &managed{name: name, cmd: cmd, done: make(chan struct{}), log: logf}
	go func() {
		err := cmd.Wait()
		fmt.Fprintf(logf, "=== %s exit: %v\n", time.Now().Format(time.RFC3339Nano), err)
		logf.Close()
		close(m.done)
	}()
	return m, nil
}

func (m *managed) running() bool {
	if m == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// signal sends sig and waits up to wait for the exit (then SIGKILL).
func (m *managed) stop(sig syscall.Signal, wait time.Duration) {
	if !m.running() {
		return
	}
	_ = m.cmd.Process.Signal(sig)
	select {
	case <-m.done:
	case <-time.After(wait):
		_ = m.cmd.Process.Kill()
		<-m.done
	}
}

// StartController starts the controller inside the apiserver namespace.
func (l *Lab) StartController() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.controller.running() {
		return nil
	}
	m, err := l.startManaged("controller", l.Net.APIServerNS, filepath.Join(l.BinDir, "controller"),
		"--kubeconfig", l.AdminKubeconfigPath(), "--namespace", Namespace, "--leader-elect=false",
		"--metrics-bind-address", "0", "--health-probe-bind-address", "0")
	if err != nil {
		return err
	}
	l.controller = m
	return nil
}

// SpeakerArgs returns the command line of node i's speaker.
func (l *Lab) SpeakerArgs(i int) []string {
	n := l.Net.Node(i)
	args := []string{"--kubeconfig", l.KubeconfigPath(), "--node-name", NodeName(i), "--namespace", Namespace,
		"--liveness-bind-address", n.IPv4.String()}
	return append(args, l.Opts.SpeakerArgs...)
}

// StartSpeaker starts node i's speaker (no-op when it runs). extra is added
// to the command line of this start only.
func (l *Lab) StartSpeaker(i int, extra ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.speakers[i].running() {
		return nil
	}
	m, err := l.startManaged("speaker-"+NodeName(i), l.Net.NodeNS(i), filepath.Join(l.BinDir, "speaker"),
		append(l.SpeakerArgs(i), extra...)...)
	if err != nil {
		return err
	}
	l.speakers[i] = m
	return nil
}

func (l *Lab) speaker(i int) *managed {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.speakers[i]
}

// SpeakerRunning reports whether node i's speaker process is alive.
func (l *Lab) SpeakerRunning(i int) bool { return l.speaker(i).running() }

// SpeakerPID is the pid of node i's speaker (0 if not running).
func (l *Lab) SpeakerPID(i int) int {
	m := l.speaker(i)
	if !m.running() {
		return 0
	}
	return m.cmd.Process.Pid
}

// KillSpeaker SIGKILLs node i's speaker and waits until it is gone.
func (l *Lab) KillSpeaker(i int) error {
	m := l.speaker(i)
	if !m.running() {
		return fmt.Errorf("speaker %d not running", i)
	}
	m.stop(syscall.SIGKILL, 10*time.Second)
	return nil
}

// StopSpeaker SIGTERMs node i's speaker (graceful stop) and waits for it to
// exit (SIGKILL after 30 s).
func (l *Lab) StopSpeaker(i int) error {
	m := l.speaker(i)
	if !m.running() {
		return fmt.Errorf("speaker %d not running", i)
	}
	m.stop(syscall.SIGTERM, 30*time.Second)
	return nil
}

// SignalSpeaker sends sig to node i's speaker without waiting.
func (l *Lab) SignalSpeaker(i int, sig syscall.Signal) error {
	m := l.speaker(i)
	if !m.running() {
		return fmt.Errorf("speaker %d not running", i)
	}
	return m.cmd.Process.Signal(sig)
}

// WaitSpeakerExit waits until node i's speaker has exited.
func (l *Lab) WaitSpeakerExit(i int, timeout time.Duration) error {
	m := l.speaker(i)
	if m == nil {
		return nil
	}
	select {
	case <-m.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("speaker %d still running after %v", i, timeout)
	}
}

func (l *Lab) startServer(i int) error {
	ports := make([]string, len(ServerPorts))
	for k, p := range ServerPorts {
		ports[k] = strconv.Itoa(p)
	}
	cmd, err := helperCommand(l.Net.NodeNS(i), "echo", "-name", NodeName(i), "-ports", strings.Join(ports, ","))
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(l.LogDir, "server-"+NodeName(i)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	m := &managed{name: "server-" + NodeName(i), cmd: cmd, done: make(chan struct{}), log: logf}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			close(ready)
		}
		for sc.Scan() {
		}
		_ = cmd.Wait()
		logf.Close()
		close(m.done)
	}()
	l.mu.Lock()
	l.servers = append(l.servers, m)
	l.mu.Unlock()
	select {
	case <-ready:
		return nil
	case <-m.done:
		return fmt.Errorf("node server %d exited: %s", i, tail(logf.Name(), 5))
	case <-time.After(30 * time.Second):
		return fmt.Errorf("node server %d not ready", i)
	}
}

// LinkDown sets node i's data interface down (the cable is cut from the
// node's point of view: the speaker there sees it, the others lose it).
func (l *Lab) LinkDown(i int) error { return l.Net.LinkDown(i) }

// LinkUp reverses LinkDown.
func (l *Lab) LinkUp(i int) error { return l.Net.LinkUp(i) }

// MACNode maps a data-interface MAC to its node index (0 if unknown).
func (l *Lab) MACNode(mac string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.macs[strings.ToLower(mac)]
}

// Announcers sends one ARP request (IPv4) or neighbor solicitation (IPv6)
// for ip from the client (see Solicit) and returns the node indices whose
// MAC answered it, sorted; a MAC that belongs to no node's data interface is
// reported as -1. More than one entry means two nodes answer at once.
func (l *Lab) Announcers(ip string) ([]int, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return nil, err
	}
	macs, err := l.Solicit(a, 300*time.Millisecond)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, m := range macs {
		n := l.MACNode(m)
		if n == 0 {
			n = -1
		}
		out = append(out, n)
	}
	sort.Ints(out)
	return out, nil
}

// Announcer returns the single node answering for ip, 0 when none does, and
// an error when several do.
func (l *Lab) Announcer(ip string) (int, error) {
	ns, err := l.Announcers(ip)
	if err != nil {
		return 0, err
	}
	switch len(ns) {
	case 0:
		return 0, nil
	case 1:
		return ns[0], nil
	default:
		return 0, fmt.Errorf("split brain: %s answered by nodes %v", ip, ns)
	}
}

// Dial connects from the client namespace to ip:port over TCP and returns
// the node name the server there answers with.
func (l *Lab) Dial(ip string, port int) (string, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "", err
	}
	c, err := DialIn(l.Net.ClientNS, "tcp", netip.AddrPortFrom(a, uint16(port)).String(), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(io.LimitReader(c, 128))
	if err != nil && len(b) == 0 {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Close stops everything and removes the namespaces and the lab directory
// (LogDir is kept when it was given). Idempotent.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() {
		defer close(l.closed)
		if l.stopLoops != nil {
			l.stopLoops()
			l.loops.Wait()
		}
		l.mu.Lock()
		procs := []*managed{l.controller}
		for _, s := range l.speakers {
			procs = append(procs, s)
		}
		procs = append(procs, l.servers...)
		l.mu.Unlock()
		for _, p := range procs {
			if p != nil {
				p.stop(syscall.SIGKILL, 5*time.Second)
			}
		}
		if l.cp != nil {
			_ = l.cpStdin.Close() // the control plane stops envtest cleanly
			select {
			case <-l.cpDone:
			case <-time.After(30 * time.Second):
				_ = l.cp.Process.Kill()
				<-l.cpDone
			}
		}
		var errs []error
		if l.Net != nil {
			errs = append(errs, l.Net.Close())
		}
		if l.Dir != "" {
			errs = append(errs, os.RemoveAll(l.Dir))
		}
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}
