// Command failover measures ironlb's layer-2 failover in the local lab
// (test/lab): for each fault kind it repeatedly breaks the node announcing the
// demo Service IP and measures, from the fault to the client's traffic
// flowing again through another node, with a probe running inside the client
// namespace (a TCP connection every 10 ms recording which node answered, and
// an ARP request every 20 ms recording every MAC that answered it). It also
// counts every moment two nodes answered for the IP.
//
//	sudo go run ./bench/failover -trials 20
//
// See README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/ironlb/ironlb/test/lab"
)

// MetalLB's documented / derived figures, printed for comparison only. They
// are NOT measured by this program.
const (
	metallbDocumented  = `MetalLB layer 2: failover takes "a few seconds"; metallb.universe.tf/concepts/layer2 lists "potentially slow failover" as a limitation`
	metallbSuspicion   = "memberlist (MetalLB's failure detector) LAN defaults: probe every 1 s, 500 ms probe timeout, suspicion timeout 4 x max(1, log10 N) s = at least 4 s for N <= 3 nodes"
	targetCrashLinkP99 = time.Second
	targetGracefulP99  = 200 * time.Millisecond
	giveUpAfter        = 30 * time.Second
)

type kind string

const (
	crash     kind = "crash"     // SIGKILL of the announcing speaker
	linkdown  kind = "linkdown"  // the announcing node's data link goes down
	graceful  kind = "graceful"  // SIGTERM of the announcing speaker
	partition kind = "partition" // the announcer is cut from the other speakers (not from the client)
	pause     kind = "pause"     // the announcing speaker is stopped (SIGSTOP) for pauseFor, then resumed
)

// pauseFor: longer than the failover, so another node takes over while the
// old owner is stopped; the question is what the old owner does on resuming.
const pauseFor = 1500 * time.Millisecond

type trial struct {
	Kind     kind          `json:"kind"`
	N        int           `json:"n"`
	From     string        `json:"from"`
	To       string        `json:"to"`
	Failover time.Duration `json:"failover_ns"` // -1: no failover within giveUpAfter
	// Doubles: ARP requests (one every 20 ms) answered by two MACs during
	// the fault and the recovery; Flaps: the client's traffic went back to a
	// node it had left (two nodes answering in overlapping windows).
	DoublesFault, DoublesRecover int
	Flaps                        int
	// LateGARPs: gratuitous ARPs from the node that lost the IP, received
	// after the first gratuitous ARP of the node that took it.
	LateGARPs int
	// LateClaims: claims (ARP answers, gratuitous ARPs) by the old owner
	// between the new owner's first and last claims.
	LateClaims int
	Recovered  bool // the IP went back to the original owner after repair
}

func main() {
	lab.HelperMain()
	trials := flag.Int("trials", 20, "trials per fault kind")
	kinds := flag.String("kinds", "crash,linkdown,graceful,partition,pause", "fault kinds to run")
	nodes := flag.Int("nodes", 3, "lab nodes")
	binDir := flag.String("bin-dir", "", "controller/speaker binaries (default: build them)")
	logDir := flag.String("log-dir", "", "keep lab process logs here")
	jsonOut := flag.String("json", "", "also write every trial as JSON to this file")
	verbose := flag.Bool("v", false, "print every trial")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := lab.Available(); err != nil {
		fatal("%v", err)
	}
	fmt.Printf("starting a %d-node lab...\n", *nodes)
	l, err := lab.Start(ctx, lab.Options{Nodes: *nodes, BinDir: *binDir, LogDir: *logDir, NoIPv6: true})
	if err != nil {
		fatal("lab: %v", err)
	}
	code := run(ctx, l, *trials, strings.Split(*kinds, ","), *jsonOut, *verbose)
	_ = l.Close()
	os.Exit(code)
}

func run(ctx context.Context, l *lab.Lab, trials int, kinds []string, jsonOut string, verbose bool) int {
	ips, err := l.WaitServiceIPs(ctx, "default", lab.DemoSvc, 1, 2*time.Minute)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	vip := netip.MustParseAddr(ips[0])
	p, err := l.StartProbe(vip, lab.ProbeOptions{})
	if err != nil {
		fmt.Println("probe:", err)
		return 1
	}
	defer p.Stop()
	b := &bench{l: l, p: p, vip: vip, verbose: verbose}
	owner, err := b.waitStable(ctx, 0, 2*time.Minute)
	if err != nil {
		fmt.Printf("no stable announcer for %s: %v\n", vip, err)
		return 1
	}
	fmt.Printf("%s is announced by %s; %d trials per fault kind\n", vip, lab.NodeName(owner), trials)
	benchStart := lab.MonoNow()
	var all []trial
	for _, k := range kinds {
		k := kind(strings.TrimSpace(k))
		for n := 1; n <= trials && ctx.Err() == nil; n++ {
			t, err := b.trial(ctx, k, n)
			if err != nil {
				fmt.Printf("%s #%d: %v\n", k, n, err)
				return 1
			}
			all = append(all, t)
			if verbose {
				fmt.Printf("  %-9s #%-2d %s -> %s  %8s  doubles %d/%d flaps %d late GARPs %d late claims %d\n", k, n, t.From, t.To, fmtDur(t.Failover), t.DoublesFault, t.DoublesRecover, t.Flaps, t.LateGARPs, t.LateClaims)
			}
		}
	}
	benchEnd := lab.MonoNow()
	totalDoubles := len(p.MultiMACRounds(benchStart, benchEnd))
	rounds := len(p.ARPRounds(benchStart, benchEnd))
	garps := len(p.GARPs(benchStart, benchEnd))
	if jsonOut != "" {
		b, _ := json.MarshalIndent(all, "", "  ")
		_ = os.WriteFile(jsonOut, b, 0o644)
	}
	code := report(all, kinds, totalDoubles, rounds)
	fmt.Printf("(gratuitous ARPs for %s seen by the client during the run: %d)\n", vip, garps)
	return code
}

type bench struct {
	l       *lab.Lab
	p       *lab.Probe
	vip     netip.Addr
	verbose bool
}

// waitStable waits until the client's traffic has gone to one node (want, or
// any when 0) for 500 ms and every ARP round of the last 500 ms was answered
// by that node's MAC alone.
func (b *bench) waitStable(ctx context.Context, want int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		time.Sleep(100 * time.Millisecond)
		now := lab.MonoNow()
		win := int64(500 * time.Millisecond)
		rs := b.p.Replies(now - win - int64(100*time.Millisecond))
		if len(rs) < 30 {
			continue
		}
		node := rs[0].Node
		same := true
		for _, r := range rs {
			same = same && r.Node == node
		}
		idx := lab.NodeIndex(node)
		if !same || idx == 0 || (want != 0 && idx != want) {
			continue
		}
		arps := b.p.ARPRounds(now-win, now-int64(50*time.Millisecond))
		if len(arps) < 15 {
			continue
		}
		ok := true
		for _, a := range arps {
			ok = ok && len(a.MACs) == 1 && b.l.MACNode(a.MACs[0]) == idx
		}
		if ok {
			return idx, nil
		}
	}
	return 0, fmt.Errorf("not stable within %v", timeout)
}

func (b *bench) trial(ctx context.Context, k kind, n int) (trial, error) {
	l := b.l
	owner, err := b.waitStable(ctx, 0, time.Minute)
	if err != nil {
		return trial{}, err
	}
	t := trial{Kind: k, N: n, From: lab.NodeName(owner), Failover: -1}
	var others []int
	for _, i := range l.AllNodes() {
		if i != owner {
			others = append(others, i)
		}
	}
	// Inject the fault.
	start := lab.MonoNow()
	switch k {
	case crash:
		err = l.KillSpeaker(owner)
	case graceful:
		err = l.SignalSpeaker(owner, syscall.SIGTERM)
	case linkdown:
		err = l.LinkDown(owner)
	case partition:
		err = l.Net.Partition([]int{owner}, others)
	case pause:
		err = l.SignalSpeaker(owner, syscall.SIGSTOP)
	default:
		return t, fmt.Errorf("unknown fault kind %q", k)
	}
	if err != nil {
		return t, fmt.Errorf("injecting %s: %w", k, err)
	}
	// Wait for the client's traffic to flow through another node.
	var first lab.Reply
	deadline := time.Now().Add(giveUpAfter)
	if k == pause {
		deadline = time.Now().Add(pauseFor)
	}
	for time.Now().Before(deadline) && first.Node == "" {
		time.Sleep(5 * time.Millisecond)
		for _, r := range b.p.Replies(start) {
			if r.Node != t.From && r.Recv >= start {
				first = r
				break
			}
		}
	}
	if first.Node != "" {
		t.To = first.Node
		t.Failover = time.Duration(first.Recv - start)
	}
	// Keep the fault a little longer to see any flapping back.
	if k == pause {
		// The fault ends when the old owner resumes; what it does then
		// belongs to the recovery.
		time.Sleep(time.Duration(start + int64(pauseFor) - lab.MonoNow()))
	} else {
		time.Sleep(500 * time.Millisecond)
	}
	faultEnd := lab.MonoNow()
	t.DoublesFault = len(b.p.MultiMACRounds(start, faultEnd))
	t.Flaps = flaps(b.p.Replies(start))
	t.LateGARPs = b.lateGARPs(start, faultEnd)
	// Repair and wait for the IP to settle again (normally back on the
	// original owner, the election's favourite).
	switch k {
	case crash:
		err = l.StartSpeaker(owner)
	case graceful:
		if err = l.WaitSpeakerExit(owner, 30*time.Second); err == nil {
			err = l.StartSpeaker(owner)
		}
	case linkdown:
		err = l.LinkUp(owner)
	case partition:
		err = l.Net.Heal()
	case pause:
		err = l.SignalSpeaker(owner, syscall.SIGCONT)
	}
	if err != nil {
		return t, fmt.Errorf("repairing %s: %w", k, err)
	}
	if _, err := b.waitStable(ctx, owner, 20*time.Second); err == nil {
		t.Recovered = true
	} else if _, err := b.waitStable(ctx, 0, time.Minute); err != nil {
		return t, fmt.Errorf("after repairing %s: %w", k, err)
	}
	end := lab.MonoNow()
	t.DoublesRecover = len(b.p.MultiMACRounds(faultEnd, end))
	t.Flaps += flaps(b.p.Replies(faultEnd)) // handback: at most one switch expected
	t.LateGARPs += b.lateGARPs(faultEnd, end)
	t.LateClaims, _ = lab.LateClaims(b.p.Claims(start, end), l.DataMAC(owner))
	return t, nil
}

// lateGARPs counts, in [from, to), gratuitous ARPs sent by a node after
// another node's first gratuitous ARP in that window, each time the sender
// changes: once a node has taken the IP, the one before it must be silent.
func (b *bench) lateGARPs(from, to int64) int {
	gs := b.p.GARPs(from, to)
	n := 0
	left := map[string]bool{}
	cur := ""
	for _, g := range gs {
		if g.MAC == cur {
			continue
		}
		if left[g.MAC] {
			n++
		}
		if cur != "" {
			left[cur] = true
		}
		cur = g.MAC
	}
	return n
}

// flaps counts how often the client's traffic went back to a node it had
// already left, replies ordered by send time. One clean move (A..A B..B)
// gives 0; A B A gives 1.
func flaps(rs []lab.Reply) int {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Sent < rs[j].Sent })
	left := map[string]bool{}
	cur, n := "", 0
	for _, r := range rs {
		if r.Node == cur {
			continue
		}
		if left[r.Node] {
			n++
		}
		if cur != "" {
			left[cur] = true
		}
		cur = r.Node
	}
	return n
}

func report(all []trial, kinds []string, totalDoubles, rounds int) int {
	fmt.Println()
	fmt.Printf("%-10s %6s %6s %9s %9s %9s %8s %6s %6s %5s  %-25s %s\n", "fault", "trials", "moved", "p50", "p99", "max", "doubles", "flaps", "lateGA", "back", "target", "result")
	code := 0
	for _, ks := range kinds {
		k := kind(strings.TrimSpace(ks))
		var ds []time.Duration
		var ts []trial
		doubles, fl, late, back, moved, lateClaims := 0, 0, 0, 0, 0, 0
		for _, t := range all {
			if t.Kind != k {
				continue
			}
			ts = append(ts, t)
			if t.Failover >= 0 {
				ds = append(ds, t.Failover)
				moved++
			}
			doubles += t.DoublesFault + t.DoublesRecover
			fl += t.Flaps
			late += t.LateGARPs
			lateClaims += t.LateClaims
			if t.Recovered {
				back++
			}
		}
		if len(ts) == 0 {
			continue
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		p50, p99, mx := pct(ds, 50), pct(ds, 99), pct(ds, 100)
		if moved < len(ts) {
			p99, mx = -1, -1 // some trials never failed over
		}
		target, pass := "doubles = 0", doubles == 0 && fl == 0 && late == 0
		switch k {
		case crash, linkdown:
			target = "p99 < 1s, doubles = 0"
			pass = pass && p99 >= 0 && p99 < targetCrashLinkP99
		case graceful:
			target = "p99 < 200ms, doubles = 0"
			pass = pass && p99 >= 0 && p99 < targetGracefulP99
		case partition:
			pass = pass && moved == len(ts)
		case pause:
			target = "late claims = 0, doubles = 0"
			pass = pass && moved == len(ts) && lateClaims == 0
		}
		if k == pause {
			late += lateClaims // shown in the lateGA column
		}
		res := "PASS"
		if !pass {
			res, code = "FAIL", 1
		}
		fmt.Printf("%-10s %6d %6d %9s %9s %9s %8d %6d %6d %5d  %-25s %s\n", k, len(ts), moved, fmtDur(p50), fmtDur(p99), fmtDur(mx), doubles, fl, late, back, target, res)
	}
	fmt.Printf("\nARP rounds sampled: %d, answered by two MACs: %d (must be 0)\n", rounds, totalDoubles)
	if totalDoubles != 0 {
		code = 1
	}
	fmt.Println(`
failover = fault injected (SIGKILL / link down / SIGTERM / partition) -> first TCP reply from
another node received by the client probe (client netns, one connect per 10 ms; CLOCK_MONOTONIC).
p99 is nearest-rank (with 20 trials it equals the max). doubles = ARP requests (one per 20 ms,
from the client) answered by two MACs, during the fault and during the repair; flaps = the client's
traffic returned to a node it had left; lateGA = gratuitous ARPs from a node after the next owner's
first one (for pause: also ARP answers by the resumed old owner between the new owner's first
and last claims); back = trials after which the IP returned to its first owner. doubles, flaps and
lateGA must be 0. pause = the announcing speaker stopped (SIGSTOP) for 1.5 s, then resumed.`)
	fmt.Println("\nBaseline for comparison (DOCUMENTED, NOT MEASURED here):")
	fmt.Println("  " + metallbDocumented)
	fmt.Println("  " + metallbSuspicion)
	return code
}

// pct is the nearest-rank percentile of sorted ds (-1 when empty).
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return -1
	}
	i := int(math.Ceil(p/100*float64(len(ds)))) - 1
	if i < 0 {
		i = 0
	}
	return ds[i]
}

func fmtDur(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return d.Round(time.Millisecond).String()
}

func fatal(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "failover: "+format+"\n", a...)
	os.Exit(1)
}
