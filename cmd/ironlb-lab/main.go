// Command ironlb-lab runs ironlb end to end on this machine, inside network
// namespaces it creates and removes: a 3-node layer-2 network with a client,
// a real kube-apiserver + etcd, the controller, one speaker per node and a
// LoadBalancer Service "demo". It shows the Service getting its IPs, the
// announcing node answering ARP/NDP, and the client reaching the Service.
//
//	sudo go run ./cmd/ironlb-lab            # demo, then tear down
//	sudo go run ./cmd/ironlb-lab --keep     # keep running until Ctrl-C
//
// See test/lab/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/ironlb/ironlb/internal/testenv"
	"github.com/ironlb/ironlb/test/lab"
	"github.com/ironlb/ironlb/test/netlab"
)

func main() {
	lab.HelperMain()
	nodes := flag.Int("nodes", 3, "number of nodes")
	keep := flag.Bool("keep", false, "keep the lab running after the demo, until Ctrl-C")
	noIPv6 := flag.Bool("no-ipv6", false, "IPv4 only")
	binDir := flag.String("bin-dir", "", "directory with controller and speaker binaries (default: build them)")
	logDir := flag.String("log-dir", "", "keep process logs in this directory (default: removed on exit)")
	noSpeakers := flag.Bool("no-speakers", false, "run no speakers (default: on when cmd/speaker does not exist)")
	sweep := flag.Bool("sweep", false, "remove namespaces left by killed lab runs (ilb-*) and exit")
	flag.Parse()
	if *sweep {
		if err := lab.SweepStale(); err != nil {
			fail("%v", err)
		}
		fmt.Println("namespaces and directories of dead lab runs removed")
		return
	}
	if err := lab.Available(); err != nil {
		fail("%v", err)
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		fail("run from the ironlb checkout: %v", err)
	}
	if !*noSpeakers && *binDir == "" {
		if err := lab.SpeakerSource(root); err != nil {
			fmt.Printf("!! %v: running without speakers\n", err)
			*noSpeakers = true
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	start := time.Now()
	l, err := lab.Start(ctx, lab.Options{
		Nodes: *nodes, NoIPv6: *noIPv6, BinDir: *binDir, RepoRoot: root, NoSpeakers: *noSpeakers, LogDir: *logDir,
		Logf: func(f string, a ...any) { fmt.Printf("-- "+f+"\n", a...) },
	})
	if err != nil {
		fail("starting the lab: %v", err)
	}
	code := 0
	if err := demo(ctx, l, !*noIPv6, !*noSpeakers); err != nil {
		fmt.Printf("\n!! %v\n", err)
		code = 1
	}
	fmt.Printf("\n-- lab up in %s\n", time.Since(start).Round(time.Second))
	if *keep && ctx.Err() == nil {
		fmt.Printf("\nThe lab keeps running. In another root shell:\n")
		fmt.Printf("  %s get svc -o wide\n", l.KubectlCommandLine())
		fmt.Printf("  ip netns exec %s arping -c 3 -i eth0 <IP>       # from the client\n", l.Net.ClientNS)
		fmt.Printf("  ip netns exec %s curl -s http://<IP>/            # answers with the node name\n", l.Net.ClientNS)
		fmt.Printf("  logs: %s\n", l.LogDir)
		fmt.Printf("Ctrl-C to tear it down.\n")
		<-ctx.Done()
	}
	fmt.Println("-- tearing down")
	if err := l.Close(); err != nil {
		fmt.Printf("!! teardown: %v\n", err)
		code = 1
	}
	if left, _ := netlab.List(l.Net.Prefix); len(left) > 0 {
		fmt.Printf("!! namespaces left: %v\n", left)
		code = 1
	}
	os.Exit(code)
}

func demo(ctx context.Context, l *lab.Lab, ipv6, speakers bool) error {
	want := 1
	if ipv6 {
		want = 2
	}
	ips, err := l.WaitServiceIPs(ctx, "default", lab.DemoSvc, want, 2*time.Minute)
	if err != nil {
		return fmt.Errorf("controller: %w\ncontroller log:\n%s", err, l.LogTail("controller", 20))
	}
	section("kubectl get svc -o wide")
	out, _ := l.Kubectl("get", "svc", "-o", "wide")
	fmt.Print(out)
	if !speakers {
		section("kubectl describe svc demo")
		out, _ = l.Kubectl("describe", "svc", lab.DemoSvc)
		fmt.Print(out)
		fmt.Println("\n(no speakers: nothing answers for the IPs yet)")
		return nil
	}
	var errs []string
	for _, ip := range ips {
		section("who answers for " + ip + " (from the client namespace)")
		var node int
		err := wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, 90*time.Second, true, func(context.Context) (bool, error) {
			n, err := l.Announcer(ip)
			if err != nil && strings.Contains(err.Error(), "split brain") {
				return false, err
			}
			node = n
			return n > 0, nil
		})
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: no announcement: %v", ip, err))
			continue
		}
		tool := "arping"
		if strings.Contains(ip, ":") {
			out, _ = l.Net.Run(l.Net.ClientNS, "ndisc6", "-n", "-r", "2", "-w", "700", ip, netlab.DataIface)
			tool = "ndisc6"
		} else {
			out, _ = l.Net.Run(l.Net.ClientNS, "arping", "-i", netlab.DataIface, "-c", "2", "-w", "2", ip)
		}
		fmt.Printf("$ %s %s\n%s", tool, ip, out)
		mac, _ := l.Net.NodeMAC(node)
		fmt.Printf("=> %s is announced by %s (MAC %s)\n", ip, lab.NodeName(node), mac)
		var got string
		err = wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
			got, err = l.Dial(ip, 80)
			return err == nil && got != "", nil
		})
		if err != nil {
			errs = append(errs, fmt.Sprintf("TCP %s:80 from the client: %v", ip, err))
			continue
		}
		fmt.Printf("$ curl http://%s/  (Go TCP dial from the client namespace)\n%s\n", hostPort(ip), got)
		if got != lab.NodeName(node) {
			errs = append(errs, fmt.Sprintf("%s: TCP answered by %s but %s announces it", ip, got, lab.NodeName(node)))
		}
	}
	// The nodeAssigned event and ServiceL2Status come from the speaker.
	_ = wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		evs, err := l.ServiceEvents(ctx, "default", lab.DemoSvc)
		if err != nil {
			return false, nil
		}
		for _, e := range evs {
			if e.Reason == "nodeAssigned" {
				return true, nil
			}
		}
		return false, nil
	})
	section("kubectl describe svc demo")
	out, _ = l.Kubectl("describe", "svc", lab.DemoSvc)
	fmt.Print(out)
	if !strings.Contains(out, "nodeAssigned") {
		errs = append(errs, "no nodeAssigned event on the Service")
	}
	section("kubectl get servicel2status -n metallb-system")
	out, _ = l.Kubectl("get", "servicel2statuses.metallb.io", "-n", lab.Namespace, "-o",
		"custom-columns=NAME:.metadata.name,NODE:.status.node,SERVICE:.status.serviceName,INTERFACES:.status.interfaces[*].name")
	fmt.Print(out)
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n!! "))
	}
	fmt.Println("\nOK: the Service IPs answer from the client through the announcing node.")
	return nil
}

func hostPort(ip string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]"
	}
	return ip
}

func section(s string) { fmt.Printf("\n=== %s\n", s) }

func fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "ironlb-lab: "+format+"\n", a...)
	os.Exit(1)
}
