package lab

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ServerPorts are the TCP ports every node's server listens on (all
// addresses, IPv4 and IPv6). Services in tests use these ports.
var ServerPorts = []int{80, 8080, 9000}

// runEcho is the per-node "backend" (re-executed by Start inside a node
// namespace): on every TCP connection to any of the ports it writes the node
// name and a newline and closes. Together with the local routes the lab adds
// for Service IPs, it plays kube-proxy + a pod.
func runEcho(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	name := fs.String("name", "", "node name to answer with")
	ports := fs.String("ports", "80", "comma-separated TCP ports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("-name is required")
	}
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP)
	reply := []byte(*name + "\n")
	for _, p := range strings.Split(*ports, ",") {
		port, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil {
			return fmt.Errorf("bad port %q", p)
		}
		ln, err := net.Listen("tcp", fmt.Sprintf(":%d", port))
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				go func() {
					_ = c.SetDeadline(time.Now().Add(2 * time.Second))
					_, _ = c.Write(reply)
					_ = c.Close()
				}()
			}
		}()
	}
	fmt.Println("READY")
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	<-term
	return nil
}
