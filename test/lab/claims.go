package lab

import (
	"sort"
	"strings"
)

// Claim is one sign, seen by the client probe, that a MAC announces the
// probed IP: an answer to one of its ARP requests (At = the request's send
// time) or a gratuitous ARP (At = when it was received). CLOCK_MONOTONIC ns.
type Claim struct {
	At  int64
	MAC string
}

// Claims returns the claims in [from, to), ordered by time.
func (p *Probe) Claims(from, to int64) []Claim {
	var out []Claim
	for _, r := range p.ARPRounds(from, to) {
		for _, m := range r.MACs {
			out = append(out, Claim{At: r.Sent, MAC: strings.ToLower(m)})
		}
	}
	for _, g := range p.GARPs(from, to) {
		out = append(out, Claim{At: g.At, MAC: strings.ToLower(g.MAC)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

// LateClaims counts the claims by oldMAC made after another MAC's first claim
// and up to that other MAC's last claim: the old owner answering (stale ARP
// requests it read after a pause, a gratuitous ARP) while another node holds
// the IP. Claims by oldMAC after every other MAC has stopped are the IP's
// normal return and are not counted. took is the time of the first claim by
// another MAC (0 if none: the IP never moved).
func LateClaims(claims []Claim, oldMAC string) (late int, took int64) {
	oldMAC = strings.ToLower(oldMAC)
	var last int64
	for _, c := range claims {
		if !strings.EqualFold(c.MAC, oldMAC) {
			if took == 0 {
				took = c.At
			}
			last = c.At
		}
	}
	if took == 0 {
		return 0, 0
	}
	for _, c := range claims {
		if strings.EqualFold(c.MAC, oldMAC) && c.At > took && c.At <= last {
			late++
		}
	}
	return late, took
}

// DataMAC returns node i's data-interface MAC ("" if unknown).
func (l *Lab) DataMAC(i int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for mac, n := range l.macs {
		if n == i {
			return mac
		}
	}
	return ""
}
