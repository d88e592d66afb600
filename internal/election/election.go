// Package election picks the node that announces a Service IP at layer 2.
//
// The rule is MetalLB's, so that a cluster running a mix of MetalLB and
// ironlb speakers (or two ironlb versions) agrees on the owner during a
// rolling upgrade: every candidate node is ranked by
//
//	sha256(nodeName + "#" + ip.String())
//
// compared as bytes, and the smallest wins. The rule is stateless and per IP:
//
//   - removing a node that does not own an IP never moves that IP;
//   - adding a node moves an IP only to the new node, and only if it ranks first;
//   - all Services sharing an IP are decided on that IP, so they land on the
//     same node. For a dual-stack Service the caller passes the Service's first
//     ingress IP, as MetalLB does, so both families land together.
//
// The caller filters the candidates (advertisement node selectors,
// NetworkUnavailable, the exclude-from-external-load-balancers label, nodes
// with a serving endpoint for externalTrafficPolicy=Local, interfaces, and
// liveness); this package does no I/O.
//
// MetalLB hashes inside the sort comparator, about 2·n·log n hashes per IP.
// [Owner] hashes each candidate once and keeps the minimum. [Cache] goes
// further and hashes each (node, IP) pair once for its lifetime, so deciding
// again after a membership change costs no hashing at all.
package election

import (
	"bytes"
	"crypto/sha256"
	"net/netip"
	"runtime"
	"sync"
)

// Score returns the ranking key of node for ip: sha256(node + "#" + ip), with
// ip written as MetalLB writes it (IPv4-mapped IPv6 addresses as dotted
// IPv4, no zone). The candidate with the smallest Score owns ip.
func Score(node string, ip netip.Addr) [32]byte {
	var buf [320]byte
	return sha256.Sum256(appendKey(buf[:0], node, canonical(ip)))
}

// Owner returns the candidate that announces ip, or false if there are no
// candidates. The order of candidates does not matter; duplicates are harmless.
func Owner(ip netip.Addr, candidates []string) (string, bool) {
	var buf [320]byte
	return owner(buf[:0], canonical(ip), candidates)
}

// Owners decides every IP in ips against the same candidates (the usual case:
// all Services whose advertisements select the same nodes). The result is
// parallel to ips; an entry is "" when there are no candidates. Large batches
// are split across GOMAXPROCS goroutines.
func Owners(ips []netip.Addr, candidates []string) []string {
	out := make([]string, len(ips))
	if len(candidates) == 0 {
		return out
	}
	workers := min(runtime.GOMAXPROCS(0), 1+len(ips)*len(candidates)/(1<<16))
	chunk := (len(ips) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < len(ips); lo += chunk {
		hi := min(lo+chunk, len(ips))
		wg.Go(func() {
			var buf [320]byte
			for i := lo; i < hi; i++ {
				out[i], _ = owner(buf[:0], canonical(ips[i]), candidates)
			}
		})
	}
	wg.Wait()
	return out
}

// canonical returns ip as MetalLB prints it: net.IP.String() writes an
// IPv4-mapped address as plain IPv4 and knows no zones.
func canonical(ip netip.Addr) netip.Addr {
	return ip.Unmap().WithZone("")
}

func appendKey(buf []byte, node string, ip netip.Addr) []byte {
	buf = append(buf, node...)
	buf = append(buf, '#')
	return ip.AppendTo(buf)
}

// owner is the one-pass minimum; buf is scratch space so the loop does not
// allocate. The IP is written once, after the scratch area for node names.
func owner(buf []byte, ip netip.Addr, candidates []string) (string, bool) {
	var text [64]byte
	suffix := ip.AppendTo(append(text[:0], '#'))
	var best [32]byte
	winner, found := "", false
	for _, node := range candidates {
		s := sha256.Sum256(append(append(buf[:0], node...), suffix...))
		if !found || bytes.Compare(s[:], best[:]) < 0 {
			best, winner, found = s, node, true
		}
	}
	return winner, found
}
