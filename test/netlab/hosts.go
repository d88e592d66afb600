package netlab

import "fmt"

// AddHost adds a namespace "<prefix><name>" with interface eth0 on the data
// bridge (br0) holding addrs (CIDR strings, e.g. "192.0.2.1/24"). Routers of
// the BGP test bed use it. Close removes it like every other namespace.
// name must be short (the switch port is "h"+name, at most 15 bytes).
func (l *Lab) AddHost(name string, addrs ...string) (string, error) {
	port := "h" + name
	if len(port) > 15 {
		return "", fmt.Errorf("netlab: host name %q too long", name)
	}
	ns, err := l.AddNS(name)
	if err != nil {
		return "", err
	}
	if err := l.attach(ns, DataIface, port, "br0", "", addrs...); err != nil {
		return "", err
	}
	return ns, nil
}

// AddNS adds an empty namespace "<prefix><name>" (loopback up, IPv6 DAD off)
// that Close removes.
func (l *Lab) AddNS(name string) (string, error) {
	ns := l.Prefix + name
	if err := l.addNS(ns); err != nil {
		return "", err
	}
	if err := l.sysctl(ns, "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"); err != nil {
		return "", err
	}
	return ns, nil
}

// Link connects namespaces a and b (both made by this lab) with a veth pair
// ifA (in a) / ifB (in b), assigns the addresses and brings both ends up.
func (l *Lab) Link(a, ifA string, addrsA []string, b, ifB string, addrsB []string) error {
	if err := l.ip(a, "link", "add", "name", ifA, "type", "veth", "peer", "name", ifB, "netns", b); err != nil {
		return err
	}
	for _, side := range []struct {
		ns, ifname string
		addrs      []string
	}{{a, ifA, addrsA}, {b, ifB, addrsB}} {
		_ = l.sysctl(side.ns, "net.ipv6.conf."+side.ifname+".accept_dad=0")
		for _, ad := range side.addrs {
			args := []string{"addr", "add", ad, "dev", side.ifname}
			if containsColon(ad) {
				args = append(args, "nodad")
			}
			if err := l.ip(side.ns, args...); err != nil {
				return err
			}
		}
		if err := l.ip(side.ns, "link", "set", "dev", side.ifname, "up"); err != nil {
			return err
		}
	}
	return nil
}

// IP runs `ip -n ns args...` (ns must be one of the lab's namespaces).
func (l *Lab) IP(ns string, args ...string) error { return l.ip(ns, args...) }

func containsColon(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return true
		}
	}
	return false
}
