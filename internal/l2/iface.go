package l2

import (
	"fmt"
	"net"
	"regexp"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultExcludedInterfaces is MetalLB's default announcedInterfacesToExclude
// list (config/native/exclude-l2-config.yaml).
var DefaultExcludedInterfaces = []string{
	`^docker.*`, `^cbr.*`, `^dummy.*`, `^virbr.*`, `^lxcbr.*`, `^veth.*`, `^lo$`,
	`^cali.*`, `^tunl.*`, `^flannel.*`, `^kube-ipvs.*`, `^cni.*`, `^nodelocaldns.*`, `^lxc.*`,
}

// Excluder matches interface names against a list of regular expressions.
type Excluder struct {
	res []*regexp.Regexp
}

// NewExcluder compiles patterns (Go regexp syntax, unanchored unless the
// pattern anchors itself, as in MetalLB).
func NewExcluder(patterns []string) (*Excluder, error) {
	e := &Excluder{}
	for _, p := range patterns {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("l2: bad interface exclusion pattern %q: %w", p, err)
		}
		e.res = append(e.res, re)
	}
	return e, nil
}

// Excluded reports whether name matches any pattern. A nil Excluder excludes
// nothing.
func (e *Excluder) Excluded(name string) bool {
	if e == nil {
		return false
	}
	for _, re := range e.res {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

// linkInfo is what eligibility needs to know about one link.
type linkInfo struct {
	Name      string
	Index     int
	AdminUp   bool
	OperDown  bool // operstate down / lowerlayerdown / notpresent
	HasMaster bool
	NoARP     bool
	Loopback  bool
	Broadcast bool
	MAC       net.HardwareAddr
	// LinkLocal is a usable (non-tentative) IPv6 link-local address.
	LinkLocal bool
}

func (l linkInfo) arpCapable() bool { return l.Broadcast && len(l.MAC) == 6 }
func (l linkInfo) ndpCapable() bool { return l.LinkLocal && len(l.MAC) == 6 }

// eligible decides whether an interface may be used for announcements and
// says why not.
func eligible(l linkInfo, ex *Excluder) (bool, string) {
	switch {
	case ex.Excluded(l.Name):
		return false, "excluded by name"
	case l.Loopback:
		return false, "loopback"
	case !l.AdminUp:
		return false, "down"
	case l.OperDown:
		return false, "no carrier"
	case l.HasMaster:
		return false, "enslaved"
	case l.NoARP:
		return false, "NOARP"
	case !l.arpCapable() && !l.ndpCapable():
		return false, "neither ARP (broadcast Ethernet) nor NDP (IPv6 link-local) capable"
	}
	return true, ""
}

// scanLinks lists the links of the current network namespace.
func scanLinks() ([]linkInfo, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	out := make([]linkInfo, 0, len(links))
	for _, lk := range links {
		a := lk.Attrs()
		li := linkInfo{
			Name:      a.Name,
			Index:     a.Index,
			AdminUp:   a.Flags&net.FlagUp != 0,
			HasMaster: a.MasterIndex != 0,
			NoARP:     a.RawFlags&unix.IFF_NOARP != 0,
			Loopback:  a.Flags&net.FlagLoopback != 0,
			Broadcast: a.Flags&net.FlagBroadcast != 0,
			MAC:       append(net.HardwareAddr(nil), a.HardwareAddr...),
		}
		switch a.OperState {
		case netlink.OperDown, netlink.OperLowerLayerDown, netlink.OperNotPresent:
			li.OperDown = true
		}
		if li.AdminUp {
			addrs, err := netlink.AddrList(lk, netlink.FAMILY_V6)
			if err == nil {
				for _, ad := range addrs {
					if ad.IP.IsLinkLocalUnicast() && ad.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
						li.LinkLocal = true
						break
					}
				}
			}
		}
		out = append(out, li)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
