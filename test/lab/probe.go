package lab

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"

	"github.com/ironlb/ironlb/test/netlab"
)

// The client probe runs in the client namespace (a re-executed helper, so the
// traffic and its timestamps are the client's, not the root namespace's). It
// opens a TCP connection to target:port every Interval and records which node
// answered, and (IPv4) broadcasts an ARP request for the target every
// ARPInterval and records every MAC that answers each request. All times are
// CLOCK_MONOTONIC nanoseconds (see MonoNow), comparable with the lab process.

// ProbeOptions configure StartProbe.
type ProbeOptions struct {
	Port        int           // default 80
	Interval    time.Duration // TCP probe period, default 10ms
	Timeout     time.Duration // per-connection timeout, default 300ms
	ARPInterval time.Duration // ARP sampling period (IPv4 targets only), default 20ms; <0 disables
}

// Reply is one successful TCP probe.
type Reply struct {
	Seq        int64
	Sent, Recv int64 // CLOCK_MONOTONIC ns
	Node       string
}

// ARPRound is one ARP request of the sampler and the distinct MACs that
// answered it.
type ARPRound struct {
	Round int64
	Sent  int64
	MACs  []string
}

// GARP is a gratuitous ARP (sender IP = target IP = the probed IP, request or
// reply) the client received.
type GARP struct {
	At  int64 // CLOCK_MONOTONIC ns
	MAC string
}

// Probe is a running client probe.
type Probe struct {
	Target netip.Addr
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	done   chan struct{}

	mu       sync.Mutex
	replies  []Reply
	failures int64
	lastFail int64
	arp      map[int64]*ARPRound
	garps    []GARP
	errText  strings.Builder
}

// StartProbe starts a client probe against target. Stop it with Stop.
func (l *Lab) StartProbe(target netip.Addr, o ProbeOptions) (*Probe, error) {
	if o.Port == 0 {
		o.Port = 80
	}
	if o.Interval == 0 {
		o.Interval = 10 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = 300 * time.Millisecond
	}
	if o.ARPInterval == 0 {
		o.ARPInterval = 20 * time.Millisecond
	}
	if !target.Is4() {
		o.ARPInterval = -1
	}
	cmd, err := helperCommand(l.Net.ClientNS, "probe",
		"-target", target.String(), "-port", strconv.Itoa(o.Port),
		"-interval", o.Interval.String(), "-timeout", o.Timeout.String(),
		"-arp-interval", o.ARPInterval.String())
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	p := &Probe{Target: target, cmd: cmd, stdin: stdin, done: make(chan struct{}), arp: map[int64]*ARPRound{}}
	cmd.Stderr = &lockedWriter{mu: &p.mu, b: &p.errText}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			if line == "READY" {
				once.Do(func() { close(ready) })
				continue
			}
			p.parse(line)
		}
		once.Do(func() { close(ready) })
		_ = cmd.Wait()
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
	}
	select {
	case <-p.done:
		return nil, fmt.Errorf("probe exited: %s", p.Stderr())
	default:
	}
	return p, nil
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() < 64<<10 {
		w.b.Write(b)
	}
	return len(b), nil
}

func (p *Probe) parse(line string) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return
	}
	num := func(i int) int64 {
		if i >= len(f) {
			return 0
		}
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return v
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch f[0] {
	case "T": // T seq sent recv node
		if len(f) == 5 {
			p.replies = append(p.replies, Reply{Seq: num(1), Sent: num(2), Recv: num(3), Node: f[4]})
		}
	case "F": // F seq sent
		p.failures++
		p.lastFail = num(2)
	case "G": // G at mac
		if len(f) == 3 {
			p.garps = append(p.garps, GARP{At: num(1), MAC: strings.ToLower(f[2])})
		}
	case "A": // A round sent mac
		if len(f) == 4 {
			r := p.arp[num(1)]
			if r == nil {
				r = &ARPRound{Round: num(1), Sent: num(2)}
				p.arp[r.Round] = r
			}
			mac := strings.ToLower(f[3])
			for _, m := range r.MACs {
				if m == mac {
					return
				}
			}
			r.MACs = append(r.MACs, mac)
			sort.Strings(r.MACs)
		}
	}
}

// Stop ends the probe and waits for it.
func (p *Probe) Stop() {
	_ = p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Stderr is what the probe process wrote on stderr.
func (p *Probe) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errText.String()
}

// Replies returns the successful probes sent at or after since (mono ns).
func (p *Probe) Replies(since int64) []Reply {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Replies are appended roughly in Recv order (goroutines race to emit):
	// start the scan well before since and filter exactly.
	margin := int64(2 * time.Second)
	i := sort.Search(len(p.replies), func(i int) bool { return p.replies[i].Recv >= since-margin })
	var out []Reply
	for _, r := range p.replies[i:] {
		if r.Sent >= since {
			out = append(out, r)
		}
	}
	return out
}

// LastReply is the most recent successful probe (ok=false if none).
func (p *Probe) LastReply() (Reply, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.replies) == 0 {
		return Reply{}, false
	}
	return p.replies[len(p.replies)-1], true
}

// Failures counts failed probes so far.
func (p *Probe) Failures() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.failures
}

// ARPRounds returns the ARP rounds sent in [from, to) that got at least one
// answer, ordered by round.
func (p *Probe) ARPRounds(from, to int64) []ARPRound {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []ARPRound
	for _, r := range p.arp {
		if r.Sent >= from && r.Sent < to {
			out = append(out, ARPRound{Round: r.Round, Sent: r.Sent, MACs: append([]string(nil), r.MACs...)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Round < out[j].Round })
	return out
}

// GARPs returns the gratuitous ARPs for the target received in [from, to).
func (p *Probe) GARPs(from, to int64) []GARP {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []GARP
	for _, g := range p.garps {
		if g.At >= from && g.At < to {
			out = append(out, g)
		}
	}
	return out
}

// MultiMACRounds returns the ARP rounds in [from, to) answered by more than
// one MAC: two nodes announcing the IP at once.
func (p *Probe) MultiMACRounds(from, to int64) []ARPRound {
	var out []ARPRound
	for _, r := range p.ARPRounds(from, to) {
		if len(r.MACs) > 1 {
			out = append(out, r)
		}
	}
	return out
}

// ---- helper side (runs in the client namespace) ----

func runProbe(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ContinueOnError)
	target := fs.String("target", "", "IP to probe")
	port := fs.Int("port", 80, "TCP port")
	interval := fs.Duration("interval", 10*time.Millisecond, "TCP probe period")
	timeout := fs.Duration("timeout", 300*time.Millisecond, "TCP probe timeout")
	arpInterval := fs.Duration("arp-interval", 20*time.Millisecond, "ARP sampling period; <0 disables")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ip, err := netip.ParseAddr(*target)
	if err != nil {
		return err
	}
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP)
	out := make(chan string, 1<<14)
	stop := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	var arpc *arp.Client
	if ip.Is4() && *arpInterval > 0 {
		ifi, err := net.InterfaceByName(netlab.DataIface)
		if err != nil {
			return err
		}
		arpc, err = arp.Dial(ifi)
		if err != nil {
			return fmt.Errorf("arp socket: %w", err)
		}
		defer arpc.Close()
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "READY")
	_ = w.Flush()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case s, ok := <-out:
				if !ok {
					_ = w.Flush()
					return
				}
				_, _ = w.WriteString(s)
			case <-tick.C:
				if err := w.Flush(); err != nil {
					return
				}
			}
		}
	}()
	emit := func(format string, a ...any) {
		select {
		case out <- fmt.Sprintf(format, a...):
		default: // never block the probes; the parent is far behind anyway
		}
	}
	var wg sync.WaitGroup
	if arpc != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			arpSampler(arpc, ip, *arpInterval, stop, emit)
		}()
	}
	addr := net.JoinHostPort(ip.String(), strconv.Itoa(*port))
	tick := time.NewTicker(*interval)
	defer tick.Stop()
	var seq int64
loop:
	for {
		select {
		case <-stop:
			break loop
		case <-tick.C:
		}
		seq++
		wg.Add(1)
		go func(seq int64) {
			defer wg.Done()
			sent := monoNow()
			d := net.Dialer{Timeout: *timeout}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				emit("F %d %d\n", seq, sent)
				return
			}
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(*timeout))
			buf := make([]byte, 64)
			n, err := io.ReadAtLeast(c, buf, 1)
			if err != nil && n == 0 {
				emit("F %d %d\n", seq, sent)
				return
			}
			node := strings.TrimSpace(string(buf[:n]))
			if node == "" || strings.ContainsAny(node, " \t\n") {
				emit("F %d %d\n", seq, sent)
				return
			}
			emit("T %d %d %d %s\n", seq, sent, monoNow(), node)
		}(seq)
	}
	if arpc != nil {
		_ = arpc.SetReadDeadline(time.Now())
	}
	wg.Wait()
	close(out)
	<-writerDone
	return nil
}

// arpSampler broadcasts an ARP request for target every period. Each request
// uses a different sender address (192.0.2.150-189, cycling) and answers are
// unicast back with that address as target, so every answer is attributed to
// exactly the request it answers.
func arpSampler(c *arp.Client, target netip.Addr, period time.Duration, stop <-chan struct{}, emit func(string, ...any)) {
	const tags = 40
	var mu sync.Mutex
	type sent struct {
		round int64
		at    int64
	}
	byTag := map[netip.Addr]sent{}
	go func() {
		for {
			pkt, _, err := c.Read()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					return
				}
				select {
				case <-stop:
					return
				default:
					continue
				}
			}
			if pkt.SenderIP != target {
				continue
			}
			if pkt.TargetIP == target { // gratuitous (request or reply form)
				emit("G %d %s\n", monoNow(), pkt.SenderHardwareAddr)
				continue
			}
			if pkt.Operation != arp.OperationReply {
				continue
			}
			mu.Lock()
			s, ok := byTag[pkt.TargetIP]
			mu.Unlock()
			if ok {
				emit("A %d %d %s\n", s.round, s.at, pkt.SenderHardwareAddr)
			}
		}
	}()
	tick := time.NewTicker(period)
	defer tick.Stop()
	var round int64
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		round++
		tag := netip.AddrFrom4([4]byte{192, 0, 2, byte(150 + round%tags)})
		req, err := arp.NewPacket(arp.OperationRequest, c.HardwareAddr(), tag, net.HardwareAddr{0, 0, 0, 0, 0, 0}, target)
		if err != nil {
			continue
		}
		mu.Lock()
		byTag[tag] = sent{round: round, at: monoNow()}
		mu.Unlock()
		_ = c.WriteTo(req, ethernet.Broadcast)
	}
}
