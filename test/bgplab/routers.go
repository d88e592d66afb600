// Package bgplab is the BGP test bed: router namespaces running real FRR,
// BIRD 2 and gobgpd on the data network of a netlab.Lab, node speakers
// running ironlb's BGP engine, and helpers to read each router's view of a
// prefix. Configs, pid files and control sockets live in a directory the
// caller owns (t.TempDir()); nothing is written to /etc or /run. See README.md.
package bgplab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ironlb/ironlb/test/netlab"
)

// BFD timers the routers use (and the tests give the speakers). Generous
// enough for a loaded CI machine; bench/ measures tighter ones.
const (
	BFDIntervalMS = 300
	BFDMultiplier = 5
)

// Kinds of router.
const (
	FRR   = "frr"
	BIRD  = "bird"
	GoBGP = "gobgp"
)

// Neighbor is a node speaker as configured on a router.
type Neighbor struct {
	Addr     netip.Addr
	ASN      uint32
	Password string
	BFD      bool // BFDInterval x BFDMultiplier
	GR       bool // graceful restart helper
}

// RouterSpec describes a router to start.
type RouterSpec struct {
	Kind       string
	Name       string // namespace suffix, short
	ASN        uint32
	IPv4, IPv6 netip.Addr // on the data network (/24, /64)
	Neighbors  []Neighbor
	// Kernel: install the learnt routes (with ECMP) in the router
	// namespace's kernel table, so traffic from behind it reaches the nodes.
	Kernel bool
}

// Router is a running router.
type Router struct {
	RouterSpec
	NS  string
	Dir string
	lab *netlab.Lab
}

// Path is one route to a prefix as a router sees it.
type Path struct {
	NextHop          netip.Addr
	Communities      []string // "65000:1"
	LargeCommunities []string // "1:2:3"
	LocalPref        uint32   // 0 if absent
}

// StartRouter creates the router's namespace on the data network and runs it.
func StartRouter(l *netlab.Lab, dir string, spec RouterSpec) (*Router, error) {
	addrs := []string{spec.IPv4.String() + "/24"}
	if spec.IPv6.IsValid() {
		addrs = append(addrs, spec.IPv6.String()+"/64")
	}
	ns, err := l.AddHost(spec.Name, addrs...)
	if err != nil {
		return nil, err
	}
	rdir := filepath.Join(dir, spec.Name)
	if err := os.MkdirAll(rdir, 0o777); err != nil {
		return nil, err
	}
	// FRR runs as user "frr": it must traverse dir and write here.
	_ = os.Chmod(rdir, 0o777)
	r := &Router{RouterSpec: spec, NS: ns, Dir: rdir, lab: l}
	if spec.Kernel {
		if _, err := l.Run(ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
			"net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1"); err != nil {
			return nil, err
		}
	}
	switch spec.Kind {
	case FRR:
		err = r.startFRR()
	case BIRD:
		err = r.startBIRD()
	case GoBGP:
		err = r.startGoBGP()
	default:
		err = fmt.Errorf("unknown router kind %q", spec.Kind)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s router %s: %w", spec.Kind, spec.Name, err)
	}
	return r, nil
}

func (r *Router) path(name string) string { return filepath.Join(r.Dir, name) }

func (r *Router) start(name string, args ...string) error {
	logf, err := os.Create(r.path(filepath.Base(name) + ".out"))
	if err != nil {
		return err
	}
	cmd := netlab.Command(r.NS, name, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	return r.lab.Start(cmd)
}

// ---- FRR ----

func (r *Router) startFRR() error {
	var b strings.Builder
	fmt.Fprintf(&b, "frr defaults datacenter\nhostname %s\nlog file %s\n", r.Name, r.path("frr.log"))
	bfd := false
	for _, n := range r.Neighbors {
		bfd = bfd || n.BFD
	}
	if bfd {
		prof := fmt.Sprintf("bfd\n profile fast\n  receive-interval %d\n  transmit-interval %d\n  detect-multiplier %d\n exit\nexit\n", BFDIntervalMS, BFDIntervalMS, BFDMultiplier)
		if err := os.WriteFile(r.path("bfdd.conf"), []byte(prof), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(&b, "router bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n no bgp default ipv4-unicast\n bgp graceful-restart\n", r.ASN, r.IPv4)
	for _, n := range r.Neighbors {
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers connect 1\n", n.Addr, n.ASN, n.Addr)
		if n.Password != "" {
			fmt.Fprintf(&b, " neighbor %s password %s\n", n.Addr, n.Password)
		}
		if n.BFD {
			fmt.Fprintf(&b, " neighbor %s bfd profile fast\n", n.Addr)
		}
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		fmt.Fprintf(&b, " address-family %s unicast\n  maximum-paths 16\n  maximum-paths ibgp 16\n", fam)
		for _, n := range r.Neighbors {
			if (fam == "ipv4") == n.Addr.Is4() {
				fmt.Fprintf(&b, "  neighbor %s activate\n", n.Addr)
			}
		}
		b.WriteString(" exit-address-family\n")
	}
	b.WriteString("exit\n")
	if err := os.WriteFile(r.path("frr.conf"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(r.path("empty.conf"), nil, 0o644); err != nil {
		return err
	}
	zsock := r.path("zserv.api")
	common := []string{"-z", zsock, "--vty_socket", r.Dir, "-P", "0"}
	zargs := append([]string{"-i", r.path("zebra.pid"), "-f", r.path("empty.conf")}, common...)
	if !r.Kernel {
		// Without -n zebra would still install routes; keep the kernel
		// table untouched unless asked.
		zargs = append(zargs, "--log", "file:"+r.path("zebra.log"))
	}
	if err := r.start("/usr/lib/frr/zebra", zargs...); err != nil {
		return err
	}
	if err := waitFile(zsock); err != nil {
		return fmt.Errorf("zebra did not create its socket: %w (see %s)", err, r.path("zebra.out"))
	}
	if bfd {
		if err := r.start("/usr/lib/frr/bfdd", append([]string{"-i", r.path("bfdd.pid"), "-f", r.path("bfdd.conf"), "--bfdctl", r.path("bfdd.sock")}, common...)...); err != nil {
			return err
		}
		if err := waitFile(r.path("bfdd.vty")); err != nil {
			return fmt.Errorf("bfdd did not start: %w", err)
		}
	}
	bargs := append([]string{"-i", r.path("bgpd.pid"), "-f", r.path("frr.conf")}, common...)
	if !r.Kernel {
		bargs = append(bargs, "-n")
	}
	if err := r.start("/usr/lib/frr/bgpd", bargs...); err != nil {
		return err
	}
	if err := waitFile(r.path("bgpd.vty")); err != nil {
		return fmt.Errorf("bgpd did not start: %w (see %s)", err, r.path("bgpd.out"))
	}
	return nil
}

func (r *Router) vtysh(cmds ...string) (string, error) {
	args := []string{"--vty_socket", r.Dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	return r.lab.Run(r.NS, "vtysh", args...)
}

type frrRoute struct {
	Paths []struct {
		Nexthops []struct {
			IP    string `json:"ip"`
			Scope string `json:"scope"`
		} `json:"nexthops"`
		Community struct {
			String string `json:"string"`
		} `json:"community"`
		LargeCommunity struct {
			String string `json:"string"`
		} `json:"largeCommunity"`
		LocPrf uint32 `json:"locPrf"`
		Peer   struct {
			PeerID string `json:"peerId"`
		} `json:"peer"`
	} `json:"paths"`
}

func (r *Router) frrPaths(pfx netip.Prefix) ([]Path, error) {
	fam := "ipv4"
	if pfx.Addr().Is6() {
		fam = "ipv6"
	}
	out, err := r.vtysh(fmt.Sprintf("show bgp %s unicast %s json", fam, pfx))
	if err != nil {
		return nil, err
	}
	var fr frrRoute
	if err := json.Unmarshal([]byte(out), &fr); err != nil {
		return nil, fmt.Errorf("frr json: %w: %s", err, out)
	}
	var ps []Path
	for _, p := range fr.Paths {
		var nh netip.Addr
		for _, n := range p.Nexthops {
			a, err := netip.ParseAddr(n.IP)
			if err == nil && !a.IsLinkLocalUnicast() {
				nh = a
				break
			}
		}
		ps = append(ps, Path{NextHop: nh, Communities: fields(p.Community.String), LargeCommunities: fields(p.LargeCommunity.String), LocalPref: p.LocPrf})
	}
	return ps, nil
}

type frrNeighbor struct {
	BgpState               string `json:"bgpState"`
	ConnectionsEstablished int    `json:"connectionsEstablished"`
	ConnectionsDropped     int    `json:"connectionsDropped"`
}

// ---- BIRD ----

func (r *Router) startBIRD() error {
	var b strings.Builder
	fmt.Fprintf(&b, "router id %s;\nlog \"%s\" all;\nprotocol device {}\n", r.IPv4, r.path("bird.log"))
	if r.Kernel {
		b.WriteString("protocol kernel { ipv4 { export all; }; merge paths on; }\nprotocol kernel { ipv6 { export all; }; merge paths on; }\n")
	}
	if slices.ContainsFunc(r.Neighbors, func(n Neighbor) bool { return n.BFD }) {
		fmt.Fprintf(&b, "protocol bfd { interface \"*\" { min rx interval %d ms; min tx interval %d ms; multiplier %d; }; }\n", BFDIntervalMS, BFDIntervalMS, BFDMultiplier)
	}
	for i, n := range r.Neighbors {
		fam, local := "ipv4", r.IPv4
		if n.Addr.Is6() {
			fam, local = "ipv6", r.IPv6
		}
		fmt.Fprintf(&b, "protocol bgp n%d {\n local %s as %d;\n neighbor %s as %d;\n connect retry time 1;\n %s { import all; export none; };\n", i, local, r.ASN, n.Addr, n.ASN, fam)
		if n.Password != "" {
			fmt.Fprintf(&b, " password \"%s\";\n", n.Password)
		}
		if n.BFD {
			b.WriteString(" bfd on;\n")
		}
		if n.GR {
			b.WriteString(" graceful restart on;\n")
		}
		b.WriteString("}\n")
	}
	if err := os.WriteFile(r.path("bird.conf"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	if err := r.start("bird", "-f", "-c", r.path("bird.conf"), "-s", r.path("bird.ctl"), "-P", r.path("bird.pid")); err != nil {
		return err
	}
	return waitFile(r.path("bird.ctl"))
}

func (r *Router) birdc(args ...string) (string, error) {
	return r.lab.Run(r.NS, "birdc", append([]string{"-s", r.path("bird.ctl")}, args...)...)
}

var (
	birdVia   = regexp.MustCompile(`(?m)via (\S+) on`)
	birdComm  = regexp.MustCompile(`(?m)BGP\.community: (.*)$`)
	birdLarge = regexp.MustCompile(`(?m)BGP\.large_community: (.*)$`)
	birdLP    = regexp.MustCompile(`(?m)BGP\.local_pref: (\d+)`)
	birdPair  = regexp.MustCompile(`\((\d+), ?(\d+)\)`)
	birdTrip  = regexp.MustCompile(`\((\d+), ?(\d+), ?(\d+)\)`)
)

func (r *Router) birdPaths(pfx netip.Prefix) ([]Path, error) {
	out, err := r.birdc("show", "route", "for", pfx.String(), "all")
	if strings.Contains(out, "Network not found") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	// One block per route, each starting with the prefix or with
	// whitespace + "unicast"; split on "via".
	var ps []Path
	blocks := strings.Split(out, "\n")
	var cur *Path
	for _, line := range blocks {
		if m := birdVia.FindStringSubmatch(line); m != nil {
			if cur != nil {
				ps = append(ps, *cur)
			}
			a, _ := netip.ParseAddr(m[1])
			cur = &Path{NextHop: a}
			continue
		}
		if cur == nil {
			continue
		}
		if m := birdComm.FindStringSubmatch(line); m != nil {
			for _, p := range birdPair.FindAllStringSubmatch(m[1], -1) {
				cur.Communities = append(cur.Communities, p[1]+":"+p[2])
			}
		}
		if m := birdLarge.FindStringSubmatch(line); m != nil {
			for _, p := range birdTrip.FindAllStringSubmatch(m[1], -1) {
				cur.LargeCommunities = append(cur.LargeCommunities, p[1]+":"+p[2]+":"+p[3])
			}
		}
		if m := birdLP.FindStringSubmatch(line); m != nil {
			v, _ := strconv.Atoi(m[1])
			cur.LocalPref = uint32(v)
		}
	}
	if cur != nil {
		ps = append(ps, *cur)
	}
	return ps, nil
}

// ---- gobgpd ----

func (r *Router) startGoBGP() error {
	var b strings.Builder
	fmt.Fprintf(&b, "[global.config]\n  as = %d\n  router-id = \"%s\"\n  port = 179\n", r.ASN, r.IPv4)
	for _, n := range r.Neighbors {
		fmt.Fprintf(&b, "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"%s\"\n    peer-as = %d\n", n.Addr, n.ASN)
		if n.Password != "" {
			fmt.Fprintf(&b, "    auth-password = \"%s\"\n", n.Password)
		}
		b.WriteString("  [neighbors.timers.config]\n    connect-retry = 1\n")
		if n.GR {
			b.WriteString("  [neighbors.graceful-restart.config]\n    enabled = true\n    restart-time = 120\n")
		}
		fam := "ipv4-unicast"
		if n.Addr.Is6() {
			fam = "ipv6-unicast"
		}
		fmt.Fprintf(&b, "  [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"%s\"\n", fam)
		if n.GR {
			b.WriteString("    [neighbors.afi-safis.mp-graceful-restart.config]\n      enabled = true\n")
		}
	}
	if err := os.WriteFile(r.path("gobgpd.toml"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	// The gRPC API listens on the namespace's own loopback.
	if err := r.start("gobgpd", "-f", r.path("gobgpd.toml"), "-t", "toml", "--api-hosts", "127.0.0.1:50051", "-l", "warn", "--disable-stdlog", "--pprof-disable"); err != nil {
		return err
	}
	return waitFor(10*time.Second, func() bool {
		_, err := r.lab.Run(r.NS, "gobgp", "-u", "127.0.0.1", "-p", "50051", "global")
		return err == nil
	})
}

func (r *Router) gobgp(args ...string) (string, error) {
	return r.lab.Run(r.NS, "gobgp", append([]string{"-u", "127.0.0.1", "-p", "50051", "-j"}, args...)...)
}

func (r *Router) gobgpPaths(pfx netip.Prefix) ([]Path, error) {
	fam := "ipv4"
	if pfx.Addr().Is6() {
		fam = "ipv6"
	}
	out, err := r.gobgp("global", "rib", "-a", fam, pfx.String())
	if err != nil {
		if strings.Contains(err.Error(), "not found") || strings.Contains(out, "Network not in table") {
			return nil, nil
		}
		return nil, err
	}
	var m map[string][]struct {
		Attrs   []json.RawMessage `json:"attrs"`
		Nexthop string            `json:"nexthop"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		return nil, fmt.Errorf("gobgp json: %w: %s", err, out)
	}
	var ps []Path
	for _, paths := range m {
		for _, p := range paths {
			var cur Path
			for _, raw := range p.Attrs {
				var a struct {
					Type        int             `json:"type"`
					Nexthop     string          `json:"nexthop"`
					Value       json.RawMessage `json:"value"`
					Communities []uint32        `json:"communities"`
				}
				_ = json.Unmarshal(raw, &a)
				switch a.Type {
				case 3: // NEXT_HOP
					cur.NextHop, _ = netip.ParseAddr(a.Nexthop)
				case 14: // MP_REACH_NLRI
					cur.NextHop, _ = netip.ParseAddr(a.Nexthop)
				case 5:
					var v uint32
					_ = json.Unmarshal(a.Value, &v)
					cur.LocalPref = v
				case 8:
					for _, c := range a.Communities {
						cur.Communities = append(cur.Communities, fmt.Sprintf("%d:%d", c>>16, c&0xffff))
					}
				case 32:
					var v []struct{ ASN, LocalData1, LocalData2 uint32 }
					_ = json.Unmarshal(a.Value, &v)
					for _, c := range v {
						cur.LargeCommunities = append(cur.LargeCommunities, fmt.Sprintf("%d:%d:%d", c.ASN, c.LocalData1, c.LocalData2))
					}
				}
			}
			if !cur.NextHop.IsValid() {
				cur.NextHop, _ = netip.ParseAddr(p.Nexthop)
			}
			ps = append(ps, cur)
		}
	}
	return ps, nil
}

// ---- common ----

// Paths returns the router's paths to pfx (none: empty, nil error).
func (r *Router) Paths(pfx netip.Prefix) ([]Path, error) {
	var ps []Path
	var err error
	switch r.Kind {
	case FRR:
		ps, err = r.frrPaths(pfx)
	case BIRD:
		ps, err = r.birdPaths(pfx)
	case GoBGP:
		ps, err = r.gobgpPaths(pfx)
	}
	slices.SortFunc(ps, func(a, b Path) int { return a.NextHop.Compare(b.NextHop) })
	return ps, err
}

// NextHops is the sorted list of next hops the router has for pfx.
func (r *Router) NextHops(pfx netip.Prefix) ([]netip.Addr, error) {
	ps, err := r.Paths(pfx)
	var out []netip.Addr
	for _, p := range ps {
		out = append(out, p.NextHop)
	}
	return out, err
}

// Session is a neighbour's session as the router sees it.
type Session struct {
	Established bool
	// Established counts how many times the session came up (FRR, BIRD
	// approximate with 1 while up); a reset makes it grow.
	Ups int
}

// Sessions returns the router's view of each neighbour (by address).
func (r *Router) Sessions() (map[netip.Addr]Session, error) {
	out := map[netip.Addr]Session{}
	switch r.Kind {
	case FRR:
		s, err := r.vtysh("show bgp neighbors json")
		if err != nil {
			return nil, err
		}
		var m map[string]frrNeighbor
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			return nil, fmt.Errorf("frr json: %w", err)
		}
		for k, v := range m {
			a, err := netip.ParseAddr(k)
			if err != nil {
				continue
			}
			out[a] = Session{Established: v.BgpState == "Established", Ups: v.ConnectionsEstablished}
		}
	case BIRD:
		s, err := r.birdc("show", "protocols", "all")
		if err != nil {
			return nil, err
		}
		// Blocks: "nX  BGP  ---  up  ... Established" then "Neighbor address: A".
		var state string
		for _, line := range strings.Split(s, "\n") {
			f := strings.Fields(line)
			if len(f) >= 2 && f[1] == "BGP" {
				state = line
			}
			if strings.Contains(line, "Neighbor address:") && len(f) >= 3 {
				a, err := netip.ParseAddr(f[2])
				if err == nil {
					est := strings.Contains(state, "Established")
					out[a] = Session{Established: est, Ups: btoi(est)}
				}
			}
		}
	case GoBGP:
		s, err := r.gobgp("neighbor")
		if err != nil {
			return nil, err
		}
		var ns []struct {
			State struct {
				NeighborAddress string `json:"neighbor_address"`
				SessionState    int    `json:"session_state"`
				Flops           int    `json:"flops"`
			} `json:"state"`
		}
		if err := json.Unmarshal([]byte(s), &ns); err != nil {
			return nil, fmt.Errorf("gobgp json: %w: %s", err, s)
		}
		for _, n := range ns {
			a, err := netip.ParseAddr(n.State.NeighborAddress)
			if err != nil {
				continue
			}
			est := n.State.SessionState == 6
			out[a] = Session{Established: est, Ups: n.State.Flops + btoi(est)}
		}
	}
	return out, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func fields(s string) []string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return nil
	}
	return f
}

func waitFile(p string) error {
	return waitFor(20*time.Second, func() bool { _, err := os.Stat(p); return err == nil })
}

// waitFor polls cond until it holds or d passes (setup only; tests use
// their own generous deadlines).
func waitFor(d time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var _ = exec.Command

// Client addresses behind a router (see AddClientBehind).
var (
	BehindClientV4 = netip.MustParseAddr("203.0.113.100")
	BehindClientV6 = netip.MustParseAddr("2001:db8:7::100")
	behindRouterV4 = netip.MustParseAddr("203.0.113.1")
	behindRouterV6 = netip.MustParseAddr("2001:db8:7::1")
)

// AddClientBehind adds a client namespace "<prefix>bc" linked to the router
// only (203.0.113.0/24, 2001:db8:7::/64), with default routes through it,
// and routes back to that network from every node through the router: the
// client's traffic to a Service IP crosses the router's BGP (ECMP) routes.
func AddClientBehind(l *netlab.Lab, r *Router) (string, error) {
	ns, err := l.AddNS("bc")
	if err != nil {
		return "", err
	}
	if err := l.Link(r.NS, "eth1", []string{behindRouterV4.String() + "/24", behindRouterV6.String() + "/64"},
		ns, "eth0", []string{BehindClientV4.String() + "/24", BehindClientV6.String() + "/64"}); err != nil {
		return "", err
	}
	if err := l.IP(ns, "route", "add", "default", "via", behindRouterV4.String()); err != nil {
		return "", err
	}
	if err := l.IP(ns, "-6", "route", "add", "default", "via", behindRouterV6.String()); err != nil {
		return "", err
	}
	for _, n := range l.Nodes {
		if err := l.IP(n.NS, "route", "add", "203.0.113.0/24", "via", r.IPv4.String()); err != nil {
			return "", err
		}
		if n.IPv6.IsValid() && r.IPv6.IsValid() {
			if err := l.IP(n.NS, "-6", "route", "add", "2001:db8:7::/64", "via", r.IPv6.String()); err != nil {
				return "", err
			}
		}
	}
	return ns, nil
}

// BFDUp reports the FRR router's BFD sessions that are up, by peer address.
func (r *Router) BFDUp() (map[netip.Addr]bool, error) {
	out := map[netip.Addr]bool{}
	switch r.Kind {
	case FRR:
		s, err := r.vtysh("show bfd peers json")
		if err != nil {
			return nil, err
		}
		var ps []struct {
			Peer   string `json:"peer"`
			Status string `json:"status"`
		}
		if err := json.Unmarshal([]byte(s), &ps); err != nil {
			return nil, fmt.Errorf("frr bfd json: %w: %s", err, s)
		}
		for _, p := range ps {
			if a, err := netip.ParseAddr(p.Peer); err == nil {
				out[a] = p.Status == "up"
			}
		}
	case BIRD:
		s, err := r.birdc("show", "bfd", "sessions")
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(s, "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 {
				if a, err := netip.ParseAddr(f[0]); err == nil {
					out[a] = f[2] == "Up"
				}
			}
		}
	default:
		return nil, fmt.Errorf("BFD state not read from %s", r.Kind)
	}
	return out, nil
}
