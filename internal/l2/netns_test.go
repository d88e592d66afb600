package l2

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	"github.com/ironlb/ironlb/test/netlab"
)

// The namespace tests run an Announcer inside a netlab node namespace by
// re-executing this test binary (TestHelperProcess) under `ip netns exec`.
// The parent drives it over stdin/stdout with one-line commands:
//
//	set [ip[=if1,if2] ...]   -> "ok"            (SetIPs)
//	ifaces                  -> JSON []string   (Interfaces)
//	stats                   -> JSON map        (Stats)
//	events                  -> JSON []InterfaceEvent received so far
//	quit
//
// Environment: IRONLB_L2_HELPER=1; IRONLB_L2_EXCLUDE=comma-separated
// patterns ("" = defaults); IRONLB_L2_RESCAN=fallback rescan period.

const helperEnv = "IRONLB_L2_HELPER"

func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("helper process for the namespace tests; not a test by itself")
	}
	os.Exit(runHelper())
}

func runHelper() int {
	logger := funcr.New(func(prefix, args string) { fmt.Fprintln(os.Stderr, prefix, args) }, funcr.Options{Verbosity: 1})
	var opts Options
	opts.Logger = logger
	if ex := os.Getenv("IRONLB_L2_EXCLUDE"); ex != "" {
		opts.ExcludePatterns = strings.Split(ex, ",")
	}
	opts.RescanInterval = time.Second
	if d, err := time.ParseDuration(os.Getenv("IRONLB_L2_RESCAN")); err == nil {
		opts.RescanInterval = d
	}
	a, err := New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = a.Run(ctx) }()
	var (
		evMu   sync.Mutex
		events []InterfaceEvent
	)
	go func() {
		for ev := range a.InterfaceEvents() {
			evMu.Lock()
			events = append(events, ev)
			evMu.Unlock()
		}
	}()
	for deadline := time.Now().Add(5 * time.Second); ; {
		a.mu.Lock()
		ok := a.scanned
		a.mu.Unlock()
		if ok {
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "announcer did not scan")
			return 2
		}
		time.Sleep(10 * time.Millisecond)
	}
	out := bufio.NewWriter(os.Stdout)
	reply := func(v any) {
		if s, ok := v.(string); ok {
			fmt.Fprintln(out, s)
		} else {
			b, _ := json.Marshal(v)
			fmt.Fprintln(out, string(b))
		}
		out.Flush()
	}
	reply("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "set":
			m := map[netip.Addr][]string{}
			for _, arg := range f[1:] {
				ipS, ifs, _ := strings.Cut(arg, "=")
				ip, err := netip.ParseAddr(ipS)
				if err != nil {
					reply("error " + err.Error())
					continue
				}
				var names []string
				if ifs != "" {
					names = strings.Split(ifs, ",")
				}
				m[ip] = names
			}
			a.SetIPs(m)
			reply("ok")
		case "deadline": // "deadline expired" or "deadline <duration from now>"
			if len(f) == 2 && f[1] == "expired" {
				a.SetDeadline(time.Time{})
				reply("ok")
				continue
			}
			d, err := time.ParseDuration(strings.Join(f[1:], ""))
			if err != nil {
				reply("error " + err.Error())
				continue
			}
			a.SetDeadline(time.Now().Add(d))
			reply("ok")
		case "ifaces":
			reply(a.Interfaces())
		case "links":
			l, err := scanLinks()
			if err != nil {
				reply("error " + err.Error())
				continue
			}
			reply(l)
		case "stats":
			s := map[string]Counters{}
			for ip, c := range a.Stats() {
				s[ip.String()] = c
			}
			reply(s)
		case "events":
			evMu.Lock()
			reply(append([]InterfaceEvent{}, events...))
			evMu.Unlock()
		case "quit":
			cancel()
			a.Close()
			return 0
		default:
			reply("error unknown command")
		}
	}
	return 0
}

type helper struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	log  string
	done chan struct{}
}

func startHelper(t *testing.T, lab *netlab.Lab, node int, exclude string) *helper {
	t.Helper()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("node%d", node)
	logPath := filepath.Join(t.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := lab.Command(lab.NodeNS(node), bin, "-test.run=^TestHelperProcess$", "-test.v=false")
	// A long fallback rescan: interface changes must be seen through the
	// netlink subscription.
	cmd.Env = append(os.Environ(), helperEnv+"=1", "IRONLB_L2_EXCLUDE="+exclude, "IRONLB_L2_RESCAN=10m")
	cmd.Stderr = logf
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := lab.Start(cmd); err != nil {
		t.Fatal(err)
	}
	h := &helper{t: t, name: name, cmd: cmd, in: in, out: bufio.NewScanner(stdout), log: logPath, done: make(chan struct{})}
	h.out.Buffer(make([]byte, 1<<20), 1<<20)
	t.Cleanup(func() {
		h.stop()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("---- %s announcer log ----\n%s", name, b)
		}
	})
	if got := h.readLine(); got != "ready" {
		t.Fatalf("%s: helper said %q", name, got)
	}
	return h
}

func (h *helper) readLine() string {
	h.t.Helper()
	ch := make(chan string, 1)
	go func() {
		if h.out.Scan() {
			ch <- h.out.Text()
		} else {
			ch <- "EOF: " + fmt.Sprint(h.out.Err())
		}
	}()
	select {
	case s := <-ch:
		return s
	case <-time.After(20 * time.Second):
		h.t.Fatalf("%s: helper did not answer", h.name)
		return ""
	}
}

func (h *helper) do(line string, v any) {
	h.t.Helper()
	if _, err := fmt.Fprintln(h.in, line); err != nil {
		h.t.Fatalf("%s: %v", h.name, err)
	}
	s := h.readLine()
	if v == nil {
		if s != "ok" {
			h.t.Fatalf("%s: %q -> %q", h.name, line, s)
		}
		return
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		h.t.Fatalf("%s: %q -> %q: %v", h.name, line, s, err)
	}
}

func (h *helper) stop() {
	select {
	case <-h.done:
		return
	default:
	}
	close(h.done)
	fmt.Fprintln(h.in, "quit")
	h.in.Close()
	exited := make(chan struct{})
	go func() { _ = h.cmd.Wait(); close(exited) }()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = h.cmd.Process.Kill()
		<-exited
	}
}

func eventually(t *testing.T, d time.Duration, what string, f func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, last := f()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after %v", what, last, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func mustMACs(t *testing.T, what string, got []string, err error, want ...string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if want == nil {
		want = []string{}
	}
	if got == nil {
		got = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: answered by %v, want %v", what, got, want)
	}
}

// TestNamespaceAnnounce is the end-to-end layer-2 test: two nodes and a
// client on one bridge, announcers running inside the node namespaces.
func TestNamespaceAnnounce(t *testing.T) {
	for _, tool := range []string{"arping", "ndisc6", "ping"} {
		if _, err := exec.LookPath(tool); err != nil && os.Geteuid() == 0 {
			t.Skipf("%s not installed (apt-get install -y arping ndisc6 iputils-ping)", tool)
		}
	}
	lab := netlab.NewT(t, netlab.Options{Nodes: 2, IPv6: true})
	mac1, err := lab.NodeMAC(1)
	if err != nil {
		t.Fatal(err)
	}
	mac2, err := lab.NodeMAC(2)
	if err != nil {
		t.Fatal(err)
	}
	// An interface that MetalLB's default list excludes, on the same
	// segment as the client: it must stay silent.
	dockerMAC, err := lab.AddNodeLink(1, "docker0")
	if err != nil {
		t.Fatal(err)
	}
	const v4, v6 = "192.0.2.200", "2001:db8::200"

	h1 := startHelper(t, lab, 1, "")
	h2 := startHelper(t, lab, 2, "")

	var ifs []string
	h1.do("ifaces", &ifs)
	if !reflect.DeepEqual(ifs, []string{"eth0", "eth1"}) {
		t.Fatalf("node1 eligible interfaces %v, want [eth0 eth1] (docker0 and lo excluded)", ifs)
	}

	h1.do("set "+v4+" "+v6, nil)

	got, err := lab.Arping(v4)
	mustMACs(t, "arping owned IPv4", got, err, mac1)
	got, err = lab.Ndisc6(v6, "")
	mustMACs(t, "ndisc6 owned IPv6", got, err, mac1)

	got, err = lab.Arping("192.0.2.201")
	mustMACs(t, "arping IPv4 not owned", got, err)
	got, err = lab.Ndisc6("2001:db8::201", "")
	mustMACs(t, "ndisc6 IPv6 not owned", got, err)

	// The client's kernel learns node 1.
	for _, ip := range []string{v4, v6} {
		if n, err := lab.ClientResolve(ip); err != nil || n != mac1 {
			t.Fatalf("client neighbour for %s = %q, %v; want %s", ip, n, err, mac1)
		}
	}

	var st map[string]Counters
	h1.do("stats", &st)
	for _, ip := range []string{v4, v6} {
		c := st[ip]
		if c.RequestsReceived == 0 || c.ResponsesSent == 0 || c.GratuitousSent == 0 {
			t.Fatalf("node1 stats for %s: %+v", ip, c)
		}
	}

	// Failover: node 1 drops the IPs, node 2 takes them. The client sends
	// nothing: only node 2's gratuitous burst can update its table.
	h1.do("set", nil)
	took := time.Now()
	h2.do("set "+v4+" "+v6, nil)
	for _, ip := range []string{v4, v6} {
		eventually(t, 8*time.Second, "client neighbour for "+ip+" after takeover", func() (bool, string) {
			n, err := lab.ClientNeigh(ip)
			return err == nil && n == mac2, fmt.Sprintf("%q (err %v)", n, err)
		})
	}
	t.Logf("client switched to node 2 within %v", time.Since(took).Round(time.Millisecond))
	got, err = lab.Arping(v4)
	mustMACs(t, "arping after takeover", got, err, mac2)
	got, err = lab.Ndisc6(v6, "")
	mustMACs(t, "ndisc6 after takeover", got, err, mac2)
	h2.do("stats", &st)
	if c := st[v4]; c.GratuitousSent == 0 {
		t.Fatalf("node2 sent no gratuitous ARP: %+v", c)
	}

	// Restricting an IP to another interface (eth1: management network)
	// stops answers on the data network at once.
	h2.do("set "+v4+"=eth1 "+v6+"=eth1", nil)
	got, err = lab.Arping(v4)
	mustMACs(t, "arping with IP restricted to eth1", got, err)
	got, err = lab.Ndisc6(v6, "")
	mustMACs(t, "ndisc6 with IP restricted to eth1", got, err)
	h2.do("set "+v4+"=eth0 "+v6+"=eth0", nil)
	got, err = lab.Arping(v4)
	mustMACs(t, "arping with IP restricted to eth0", got, err, mac2)

	// Interface down: the speaker is told, with the IPs now stranded.
	if err := lab.LinkDown(2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "interface-down event", func() (bool, string) {
		var evs []InterfaceEvent
		h2.do("events", &evs)
		for _, ev := range evs {
			if ev.Interface == "eth0" && !ev.Up && len(ev.Stranded) == 2 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", evs)
	})
	h2.do("ifaces", &ifs)
	if !reflect.DeepEqual(ifs, []string{"eth1"}) {
		t.Fatalf("node2 interfaces after link down: %v", ifs)
	}
	if err := lab.LinkUp(2); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "answers after link up", func() (bool, string) {
		got, err := lab.Arping(v4)
		return err == nil && reflect.DeepEqual(got, []string{mac2}), fmt.Sprint(got, err)
	})

	// Past its deadline (the speaker's quorum expiry) the owner answers
	// nothing, even though it still lists the IPs.
	h2.do("deadline expired", nil)
	got, err = lab.Arping(v4)
	mustMACs(t, "arping past the deadline", got, err)
	got, err = lab.Ndisc6(v6, "")
	mustMACs(t, "ndisc6 past the deadline", got, err)
	h2.do("deadline 1h", nil)
	got, err = lab.Arping(v4)
	mustMACs(t, "arping before the deadline", got, err, mac2)

	// Exclusion is configurable, and it is what kept docker0 silent: with a
	// list excluding eth0/eth1 instead, node 1 answers from docker0 only.
	h2.do("set", nil)
	h1.stop()
	h1b := startHelper(t, lab, 1, "^eth0$,^eth1$,^lo$")
	h1b.do("set "+v4+" "+v6, nil)
	got, err = lab.Arping(v4)
	mustMACs(t, "arping with eth0 excluded", got, err, dockerMAC)
	got, err = lab.Ndisc6(v6, "")
	mustMACs(t, "ndisc6 with eth0 excluded", got, err, dockerMAC)
}
