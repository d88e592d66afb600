// Package netlab builds a small layer-2 test network out of Linux network
// namespaces: a "switch" namespace holding two bridges (data and management),
// N node namespaces, a client namespace on the data bridge and an apiserver
// namespace on the management bridge. It is used by ironlb's tests and by the
// local lab. Everything lives inside namespaces it creates; the root
// namespace's interfaces and routes are never touched. See README.md.
package netlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Interface names inside node/client/apiserver namespaces.
const (
	DataIface = "eth0" // on the data bridge (192.0.2.0/24, 2001:db8::/64)
	MgmtIface = "eth1" // on the management bridge (198.51.100.0/24); eth0 in the apiserver namespace
)

// Fixed addresses.
var (
	ClientIPv4    = netip.MustParseAddr("192.0.2.100")
	ClientIPv6    = netip.MustParseAddr("2001:db8::100")
	APIServerIPv4 = netip.MustParseAddr("198.51.100.1")
)

// SkipMessage is the reason tests are skipped when namespaces can't be used.
const SkipMessage = "needs root and ip netns: run as root"

// NamePrefix starts every namespace name netlab creates ("ilb-<pid>-...").
const NamePrefix = "ilb-"

// Options configures a Lab.
type Options struct {
	// Nodes is the number of node namespaces (default 2, at most 80).
	Nodes int
	// IPv6 adds 2001:db8::/64 addresses on the data network.
	IPv6 bool
	// Prefix overrides the namespace name prefix; default
	// "ilb-<pid>-<random>-". Keep it short and starting with "ilb-<pid>-"
	// so SweepStale can recognise leftovers.
	Prefix string
}

// Node is one node namespace.
type Node struct {
	Index  int    // 1-based
	NS     string // namespace name
	IPv4   netip.Addr
	IPv6   netip.Addr // invalid unless Options.IPv6
	MgmtIP netip.Addr
}

// Lab is a running test network. Call Close (NewT does it via t.Cleanup).
type Lab struct {
	Prefix      string
	SwitchNS    string // holds bridges br0 (data) and br1 (management)
	ClientNS    string
	APIServerNS string
	Nodes       []Node // Nodes[i-1] is node i

	opts Options

	mu       sync.Mutex
	created  []string // namespaces, creation order
	procs    []*exec.Cmd
	holes    map[int][]string // node -> blackhole destinations added by Partition
	extra    map[int]int      // node -> extra links added
	closed   bool
	stopOnce chan struct{}
}

// Available reports whether namespaces can be used (root, ip netns works).
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New(SkipMessage)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("%s: %v", SkipMessage, err)
	}
	if out, err := exec.Command("ip", "netns", "list").CombinedOutput(); err != nil {
		return fmt.Errorf("%s: ip netns list: %v: %s", SkipMessage, err, out)
	}
	return nil
}

// NewT builds a lab for a test: it skips the test with SkipMessage when
// namespaces are unavailable, fails it on setup errors, and removes
// everything in t.Cleanup (which also runs when the test panics).
func NewT(t testing.TB, opts Options) *Lab {
	t.Helper()
	if err := Available(); err != nil {
		t.Skip(err.Error())
	}
	l, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Logf("netlab cleanup: %v", err)
		}
	})
	return l
}

// New builds a lab. It is torn down by Close or when ctx is done. Stale
// namespaces of dead earlier runs (see SweepStale) are removed first.
func New(ctx context.Context, opts Options) (*Lab, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if opts.Nodes <= 0 {
		opts.Nodes = 2
	}
	if opts.Nodes > 80 {
		return nil, errors.New("netlab: at most 80 nodes")
	}
	_ = SweepStale()
	if opts.Prefix == "" {
		opts.Prefix = fmt.Sprintf("%s%d-%04x-", NamePrefix, os.Getpid(), rand.IntN(0x10000))
	}
	l := &Lab{
		Prefix:      opts.Prefix,
		SwitchNS:    opts.Prefix + "sw",
		ClientNS:    opts.Prefix + "cl",
		APIServerNS: opts.Prefix + "api",
		opts:        opts,
		holes:       map[int][]string{},
		extra:       map[int]int{},
		stopOnce:    make(chan struct{}),
	}
	for i := 1; i <= opts.Nodes; i++ {
		n := Node{
			Index:  i,
			NS:     fmt.Sprintf("%sn%d", opts.Prefix, i),
			IPv4:   netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}),
			MgmtIP: netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}),
		}
		if opts.IPv6 {
			n.IPv6 = netip.MustParseAddr(fmt.Sprintf("2001:db8::%d", 10+i))
		}
		l.Nodes = append(l.Nodes, n)
	}
	if err := l.build(); err != nil {
		cerr := l.Close()
		return nil, errors.Join(err, cerr)
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = l.Close()
		case <-l.stopOnce:
		}
	}()
	return l, nil
}

func (l *Lab) addNS(name string) error {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	l.mu.Lock()
	l.created = append(l.created, name)
	l.mu.Unlock()
	return l.ip(name, "link", "set", "dev", "lo", "up")
}

// ip runs `ip -n ns args...`.
func (l *Lab) ip(ns string, args ...string) error {
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (l *Lab) sysctl(ns string, kv ...string) error {
	_, err := l.Run(ns, "sysctl", append([]string{"-q", "-w"}, kv...)...)
	return err
}

// attach creates a veth pair: port in the switch namespace (enslaved to
// bridge) and ifname in ns with the given MAC; it then brings both up.
func (l *Lab) attach(ns, ifname, port, bridge, mac string, addrs ...string) error {
	if err := l.ip(l.SwitchNS, "link", "add", "name", port, "type", "veth", "peer", "name", ifname, "netns", ns); err != nil {
		return err
	}
	if err := l.ip(l.SwitchNS, "link", "set", "dev", port, "master", bridge, "up"); err != nil {
		return err
	}
	_ = l.sysctl(ns, "net.ipv6.conf."+ifname+".accept_dad=0")
	if mac != "" {
		if err := l.ip(ns, "link", "set", "dev", ifname, "address", mac); err != nil {
			return err
		}
	}
	for _, a := range addrs {
		args := []string{"addr", "add", a, "dev", ifname}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		if err := l.ip(ns, args...); err != nil {
			return err
		}
	}
	return l.ip(ns, "link", "set", "dev", ifname, "up")
}

func (l *Lab) build() error {
	all := []string{l.SwitchNS, l.ClientNS, l.APIServerNS}
	for _, n := range l.Nodes {
		all = append(all, n.NS)
	}
	for _, ns := range all {
		if err := l.addNS(ns); err != nil {
			return err
		}
		if err := l.sysctl(ns, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"); err != nil {
			return err
		}
	}
	// The switch stays silent on IPv6.
	if err := l.sysctl(l.SwitchNS, "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"); err != nil {
		return err
	}
	for _, br := range []string{"br0", "br1"} {
		if err := l.ip(l.SwitchNS, "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"); err != nil {
			return err
		}
		if err := l.ip(l.SwitchNS, "link", "set", "dev", br, "up"); err != nil {
			return err
		}
	}
	clientAddrs := []string{ClientIPv4.String() + "/24"}
	if l.opts.IPv6 {
		clientAddrs = append(clientAddrs, ClientIPv6.String()+"/64")
	}
	if err := l.attach(l.ClientNS, DataIface, "dc", "br0", "02:00:00:00:01:64", clientAddrs...); err != nil {
		return err
	}
	if err := l.attach(l.APIServerNS, "eth0", "ma", "br1", "02:00:00:00:02:64", APIServerIPv4.String()+"/24"); err != nil {
		return err
	}
	for _, n := range l.Nodes {
		data := []string{n.IPv4.String() + "/24"}
		if n.IPv6.IsValid() {
			data = append(data, n.IPv6.String()+"/64")
		}
		if err := l.attach(n.NS, DataIface, fmt.Sprintf("d%d", n.Index), "br0", fmt.Sprintf("02:00:00:00:01:%02x", n.Index), data...); err != nil {
			return err
		}
		if err := l.attach(n.NS, MgmtIface, fmt.Sprintf("m%d", n.Index), "br1", fmt.Sprintf("02:00:00:00:02:%02x", n.Index), n.MgmtIP.String()+"/24"); err != nil {
			return err
		}
	}
	return nil
}

// Node returns node i (1-based); it panics on a bad index.
func (l *Lab) Node(i int) Node {
	if i < 1 || i > len(l.Nodes) {
		panic(fmt.Sprintf("netlab: no node %d (have %d)", i, len(l.Nodes)))
	}
	return l.Nodes[i-1]
}

// NodeNS is the namespace name of node i (1-based).
func (l *Lab) NodeNS(i int) string { return l.Node(i).NS }

// Command returns a command that runs name inside namespace ns via
// `ip netns exec` (which also remounts /sys for that namespace).
func Command(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// CommandContext is Command with a context.
func CommandContext(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Command is the package-level Command (kept on Lab for convenience).
func (l *Lab) Command(ns, name string, args ...string) *exec.Cmd { return Command(ns, name, args...) }

// Exec is an alias of Command.
func (l *Lab) Exec(ns, name string, args ...string) *exec.Cmd { return Command(ns, name, args...) }

// Run runs a command inside ns (30 s timeout) and returns its combined
// output.
func (l *Lab) Run(ns, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := CommandContext(ctx, ns, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("in %s: %s %s: %w: %s", ns, name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Start starts cmd (typically from Command) and remembers it: Close kills
// it (and every other process left in the lab's namespaces).
func (l *Lab) Start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	l.mu.Lock()
	l.procs = append(l.procs, cmd)
	l.mu.Unlock()
	return nil
}

// LinkDown sets node i's data interface administratively down (inside the
// node namespace).
func (l *Lab) LinkDown(node int) error {
	return l.ip(l.NodeNS(node), "link", "set", "dev", DataIface, "down")
}

// LinkUp brings node i's data interface back up.
func (l *Lab) LinkUp(node int) error {
	return l.ip(l.NodeNS(node), "link", "set", "dev", DataIface, "up")
}

// PortDown takes node i's data port down on the switch side: the node sees
// carrier loss (operstate LOWERLAYERDOWN) while its interface stays UP.
func (l *Lab) PortDown(node int) error {
	return l.ip(l.SwitchNS, "link", "set", "dev", fmt.Sprintf("d%d", l.Node(node).Index), "down")
}

// PortUp reverses PortDown.
func (l *Lab) PortUp(node int) error {
	return l.ip(l.SwitchNS, "link", "set", "dev", fmt.Sprintf("d%d", l.Node(node).Index), "up")
}

// AddNodeLink adds another interface named ifname to node i, attached to the
// data bridge (no IP address), and returns its MAC. Useful to check that an
// excluded interface (e.g. "docker0") on the same segment stays silent.
func (l *Lab) AddNodeLink(node int, ifname string) (string, error) {
	n := l.Node(node)
	l.mu.Lock()
	l.extra[node]++
	k := l.extra[node]
	l.mu.Unlock()
	mac := fmt.Sprintf("02:00:00:%02x:01:%02x", k, n.Index)
	if err := l.attach(n.NS, ifname, fmt.Sprintf("x%d_%d", n.Index, k), "br0", mac); err != nil {
		return "", err
	}
	return mac, nil
}

// Partition cuts IP traffic (all protocols, both networks) between nodes of
// different groups, e.g. Partition([]int{1}, []int{2, 3}). It adds blackhole
// routes to the other groups' node addresses inside each node namespace, so
// sends fail locally (EINVAL) rather than time out. Nodes in no group, the
// client and the apiserver are unaffected. Layer 2 (ARP/NDP) is unaffected.
// Heal undoes it.
func (l *Lab) Partition(groups ...[]int) error {
	groupOf := map[int]int{}
	for g, members := range groups {
		for _, n := range members {
			l.Node(n)
			groupOf[n] = g
		}
	}
	for a, ga := range groupOf {
		for b, gb := range groupOf {
			if ga == gb {
				continue
			}
			nb := l.Node(b)
			dsts := []string{nb.IPv4.String() + "/32", nb.MgmtIP.String() + "/32"}
			if nb.IPv6.IsValid() {
				dsts = append(dsts, nb.IPv6.String()+"/128")
			}
			for _, d := range dsts {
				if err := l.ip(l.NodeNS(a), "route", "replace", "blackhole", d); err != nil {
					return err
				}
				l.mu.Lock()
				l.holes[a] = append(l.holes[a], d)
				l.mu.Unlock()
			}
		}
	}
	return nil
}

// Heal removes every blackhole route Partition added.
func (l *Lab) Heal() error {
	l.mu.Lock()
	holes := l.holes
	l.holes = map[int][]string{}
	l.mu.Unlock()
	var errs []error
	for n, ds := range holes {
		for _, d := range ds {
			if err := l.ip(l.NodeNS(n), "route", "del", "blackhole", d); err != nil && !strings.Contains(err.Error(), "No such process") {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// NodeMAC returns the MAC of node i's data interface.
func (l *Lab) NodeMAC(node int) (string, error) { return l.IfaceMAC(l.NodeNS(node), DataIface) }

// IfaceMAC returns the MAC of ifname in ns.
func (l *Lab) IfaceMAC(ns, ifname string) (string, error) {
	out, err := exec.Command("ip", "-n", ns, "-j", "link", "show", "dev", ifname).Output()
	if err != nil {
		return "", fmt.Errorf("ip -n %s link show %s: %w", ns, ifname, err)
	}
	var links []struct {
		Address string `json:"address"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		return "", fmt.Errorf("parsing ip link output %q: %v", out, err)
	}
	return strings.ToLower(links[0].Address), nil
}

// ClientNeigh returns the MAC the client's kernel neighbour table holds for
// ip on the data interface, or "" when there is no usable entry (none,
// INCOMPLETE or FAILED).
func (l *Lab) ClientNeigh(ip string) (string, error) {
	out, err := exec.Command("ip", "-n", l.ClientNS, "-j", "neigh", "show", "to", ip, "dev", DataIface).Output()
	if err != nil {
		return "", fmt.Errorf("ip neigh: %w", err)
	}
	return parseNeighJSON(out, ip)
}

func parseNeighJSON(out []byte, ip string) (string, error) {
	var ents []struct {
		Dst    string   `json:"dst"`
		LLAddr string   `json:"lladdr"`
		State  []string `json:"state"`
	}
	if len(strings.TrimSpace(string(out))) == 0 {
		return "", nil
	}
	if err := json.Unmarshal(out, &ents); err != nil {
		return "", fmt.Errorf("parsing ip neigh output %q: %w", out, err)
	}
	want, _ := netip.ParseAddr(ip)
	for _, e := range ents {
		if d, err := netip.ParseAddr(e.Dst); err != nil || d != want {
			continue
		}
		for _, s := range e.State {
			if s == "FAILED" || s == "INCOMPLETE" {
				return "", nil
			}
		}
		return strings.ToLower(e.LLAddr), nil
	}
	return "", nil
}

// ClientResolve makes the client's kernel resolve ip (one ping, whose
// failure is ignored: nothing listens on a VIP in the lab) and returns
// ClientNeigh(ip).
func (l *Lab) ClientResolve(ip string) (string, error) {
	args := []string{"-c", "1", "-W", "1", ip}
	if strings.Contains(ip, ":") {
		args = append([]string{"-6"}, args...)
	}
	_, _ = l.Run(l.ClientNS, "ping", args...)
	return l.ClientNeigh(ip)
}

// FlushClientNeigh empties the client's neighbour table.
func (l *Lab) FlushClientNeigh() error {
	return l.ip(l.ClientNS, "neigh", "flush", "dev", DataIface)
}

var macRE = regexp.MustCompile(`(?i)\b([0-9a-f]{2}(?::[0-9a-f]{2}){5})\b`)

// Arping sends 3 ARP requests for ip from the client (Thomas Habets' arping
// or iputils arping) and returns the distinct MACs that answered, sorted
// (empty when nobody answered).
func (l *Lab) Arping(ip string) ([]string, error) {
	out, runErr := l.Run(l.ClientNS, "arping", "-i", DataIface, "-c", "3", "-W", "0.2", "-w", "1", ip)
	macs := parseArping(out)
	if len(macs) == 0 && runErr != nil && !arpingNoReply(out) {
		return nil, runErr
	}
	return macs, nil
}

func parseArping(out string) []string {
	set := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		low := strings.ToLower(line)
		// habets: "60 bytes from 02:..:01 (192.0.2.200): index=0 ..."
		// iputils: "Unicast reply from 192.0.2.200 [02:..:01]  0.6ms"
		if !strings.Contains(low, "bytes from") && !strings.Contains(low, "reply from") {
			continue
		}
		if m := macRE.FindString(low); m != "" {
			set[m] = true
		}
	}
	return sortedKeys(set)
}

func arpingNoReply(out string) bool {
	low := strings.ToLower(out)
	return strings.Contains(low, "timeout") || strings.Contains(low, "0 packets received") ||
		strings.Contains(low, "received 0 response") || strings.Contains(low, "100% unanswered") ||
		strings.Contains(low, "packets transmitted")
}

// Ndisc6 solicits ip from the client on iface ("" = the data interface)
// with ndisc6, waiting for all answers, and returns the distinct target
// link-layer addresses seen, sorted.
func (l *Lab) Ndisc6(ip, iface string) ([]string, error) {
	if iface == "" {
		iface = DataIface
	}
	out, runErr := l.Run(l.ClientNS, "ndisc6", "-m", "-n", "-r", "2", "-w", "700", ip, iface)
	macs := parseNdisc6(out)
	if len(macs) == 0 && runErr != nil && !strings.Contains(strings.ToLower(out), "no response") {
		return nil, runErr
	}
	return macs, nil
}

func parseNdisc6(out string) []string {
	set := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(strings.ToLower(line), "target link-layer address") {
			continue
		}
		if m := macRE.FindString(line); m != "" {
			set[strings.ToLower(m)] = true
		}
	}
	return sortedKeys(set)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Close kills the processes started with Start and every other process
// still inside the lab's namespaces, then deletes the namespaces (which
// destroys all veths and bridges). It is idempotent.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.stopOnce)
	procs := l.procs
	created := append([]string(nil), l.created...)
	l.mu.Unlock()
	for _, p := range procs {
		if p.Process != nil {
			_ = p.Process.Kill()
			go func() { _ = p.Wait() }()
		}
	}
	var errs []error
	// Delete in reverse order: nodes/client/apiserver before the switch.
	for i := len(created) - 1; i >= 0; i-- {
		if err := deleteNS(created[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func deleteNS(ns string) error {
	killNSProcs(ns)
	out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "No such file") {
		return fmt.Errorf("ip netns del %s: %v: %s", ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// killNSProcs SIGKILLs the processes whose network namespace is ns (only
// processes in namespaces netlab created are ever passed here).
func killNSProcs(ns string) {
	for attempt := 0; attempt < 20; attempt++ {
		out, err := exec.Command("ip", "netns", "pids", ns).Output()
		if err != nil {
			return
		}
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			return
		}
		for _, s := range pids {
			if pid, err := strconv.Atoi(s); err == nil && pid > 1 && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// List returns the existing namespaces whose name starts with prefix.
func List(prefix string) ([]string, error) {
	ents, err := os.ReadDir("/var/run/netns")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Sweep deletes every namespace whose name starts with prefix (and kills
// the processes inside). prefix must start with NamePrefix ("ilb-") so a
// sweep can never touch namespaces netlab did not create.
func Sweep(prefix string) error {
	if !strings.HasPrefix(prefix, NamePrefix) {
		return fmt.Errorf("netlab: refusing to sweep prefix %q (must start with %q)", prefix, NamePrefix)
	}
	names, err := List(prefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		errs = append(errs, deleteNS(n))
	}
	return errors.Join(errs...)
}

var staleRE = regexp.MustCompile(`^ilb-(\d+)-`)

// SweepStale deletes the namespaces "ilb-<pid>-..." whose creating process
// <pid> no longer exists (leftovers of killed runs).
func SweepStale() error {
	names, err := List(NamePrefix)
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		m := staleRE.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || processAlive(pid) {
			continue
		}
		errs = append(errs, deleteNS(n))
	}
	return errors.Join(errs...)
}

func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
