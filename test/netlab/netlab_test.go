package netlab

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsers(t *testing.T) {
	habets := `ARPING 192.0.2.200
60 bytes from 02:00:00:00:01:01 (192.0.2.200): index=0 time=1.2 msec
60 bytes from 02:00:00:00:01:01 (192.0.2.200): index=1 time=1.1 msec

--- 192.0.2.200 statistics ---
3 packets transmitted, 2 packets received,  33% unanswered (0 extra)
`
	if got := parseArping(habets); !reflect.DeepEqual(got, []string{"02:00:00:00:01:01"}) {
		t.Errorf("habets: %v", got)
	}
	iputils := "ARPING 192.0.2.200 from 192.0.2.100 eth0\nUnicast reply from 192.0.2.200 [02:00:00:00:01:02]  0.6ms\nUnicast reply from 192.0.2.200 [02:00:00:00:01:01]  0.7ms\n"
	if got := parseArping(iputils); !reflect.DeepEqual(got, []string{"02:00:00:00:01:01", "02:00:00:00:01:02"}) {
		t.Errorf("iputils: %v", got)
	}
	nd := "Soliciting 2001:db8::200 (2001:db8::200) on eth0...\nTarget link-layer address: 02:00:00:00:01:01\nTarget link-layer address: 02:00:00:00:01:01\n"
	if got := parseNdisc6(nd); !reflect.DeepEqual(got, []string{"02:00:00:00:01:01"}) {
		t.Errorf("ndisc6: %v", got)
	}
	if got := parseNdisc6("Soliciting ...\nTimed out.\nNo response.\n"); len(got) != 0 {
		t.Errorf("ndisc6 none: %v", got)
	}
	for _, c := range []struct{ in, ip, want string }{
		{`[{"dst":"192.0.2.200","dev":"eth0","lladdr":"02:00:00:00:01:02","state":["STALE"]}]`, "192.0.2.200", "02:00:00:00:01:02"},
		{`[{"dst":"192.0.2.200","dev":"eth0","state":["FAILED"]}]`, "192.0.2.200", ""},
		{`[]`, "192.0.2.200", ""},
		{``, "192.0.2.200", ""},
		{`[{"dst":"2001:db8::200","lladdr":"02:00:00:00:01:01","state":["REACHABLE"]}]`, "2001:db8::200", "02:00:00:00:01:01"},
	} {
		got, err := parseNeighJSON([]byte(c.in), c.ip)
		if err != nil || got != c.want {
			t.Errorf("parseNeighJSON(%s) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	if err := Sweep("foo-"); err == nil {
		t.Error("Sweep must refuse foreign prefixes")
	}
}

func TestLab(t *testing.T) {
	l := NewT(t, Options{Nodes: 2, IPv6: true})
	if !strings.HasPrefix(l.Prefix, NamePrefix) {
		t.Fatalf("prefix %q", l.Prefix)
	}
	for i := 1; i <= 2; i++ {
		mac, err := l.NodeMAC(i)
		if err != nil {
			t.Fatal(err)
		}
		// The node's kernel answers for its own address.
		got, err := l.Arping(l.Node(i).IPv4.String())
		if err != nil || len(got) != 1 || got[0] != mac {
			t.Fatalf("arping node %d: %v %v, want %s", i, got, err, mac)
		}
		got, err = l.Ndisc6(l.Node(i).IPv6.String(), "")
		if err != nil || len(got) != 1 || got[0] != mac {
			t.Fatalf("ndisc6 node %d: %v %v, want %s", i, got, err, mac)
		}
		if n, err := l.ClientResolve(l.Node(i).IPv4.String()); err != nil || n != mac {
			t.Fatalf("neigh node %d: %q %v", i, n, err)
		}
		// Management network reaches the apiserver namespace.
		if _, err := l.Run(l.NodeNS(i), "ping", "-c", "1", "-W", "2", APIServerIPv4.String()); err != nil {
			t.Fatal(err)
		}
	}
	// Two answerers are both reported (what "exactly one MAC" checks rely on).
	var macs []string
	for i := 1; i <= 2; i++ {
		if _, err := l.Run(l.NodeNS(i), "ip", "addr", "add", "192.0.2.250/32", "dev", DataIface); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Run(l.NodeNS(i), "ip", "addr", "add", "2001:db8::250/128", "dev", DataIface, "nodad"); err != nil {
			t.Fatal(err)
		}
		m, _ := l.NodeMAC(i)
		macs = append(macs, m)
	}
	if got, err := l.Arping("192.0.2.250"); err != nil || !reflect.DeepEqual(got, macs) {
		t.Fatalf("arping duplicate: %v %v, want %v", got, err, macs)
	}
	if got, err := l.Ndisc6("2001:db8::250", ""); err != nil || !reflect.DeepEqual(got, macs) {
		t.Fatalf("ndisc6 duplicate: %v %v, want %v", got, err, macs)
	}
	if _, err := l.Run(l.NodeNS(1), "ping", "-c", "1", "-W", "1", l.Node(2).MgmtIP.String()); err != nil {
		t.Fatal(err)
	}
	if err := l.Partition([]int{1}, []int{2}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Run(l.NodeNS(1), "ping", "-c", "1", "-W", "1", l.Node(2).MgmtIP.String()); err == nil {
		t.Fatal("partitioned nodes can still talk")
	}
	if _, err := l.Run(l.NodeNS(1), "ping", "-c", "1", "-W", "2", APIServerIPv4.String()); err != nil {
		t.Fatalf("partition must not cut the apiserver: %v", err)
	}
	if err := l.Heal(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Run(l.NodeNS(1), "ping", "-c", "1", "-W", "2", l.Node(2).MgmtIP.String()); err != nil {
		t.Fatalf("after heal: %v", err)
	}
	if err := l.LinkDown(1); err != nil {
		t.Fatal(err)
	}
	if got, _ := l.Arping(l.Node(1).IPv4.String()); len(got) != 0 {
		t.Fatalf("link down but answered: %v", got)
	}
	if err := l.LinkUp(1); err != nil {
		t.Fatal(err)
	}
	names, _ := List(l.Prefix)
	if len(names) != 5 {
		t.Fatalf("namespaces: %v", names)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if names, _ := List(l.Prefix); len(names) != 0 {
		t.Fatalf("left behind: %v", names)
	}
}
