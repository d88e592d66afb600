// Package rendezvous picks the node that announces a Service IP at layer 2.
//
// Every candidate node is ranked by a 64-bit score of (node, IP) and the smallest
// wins (rendezvous, or highest-random-weight, hashing). The rule is stateless and
// per IP:
//
//   - removing a node that does not own an IP never moves that IP;
//   - adding a node moves an IP only to the new node, and only if it ranks first;
//   - IPs spread evenly over the candidates;
//   - all Services sharing an IP are decided on that IP, so they land on the
//     same node. For a dual-stack Service the caller passes the Service's first
//     ingress IP, so both families land together.
//
// Why not MetalLB's sha256(node + "#" + ip): deciding 10,000 IPs across 1,000
// nodes needs 10 million scores, and one SHA-256 costs ~0.1 µs, so a cold decision
// takes over a second (MetalLB's comparator re-hashes: 2.8 s for 1,000 IPs). Here a
// node's key and an IP's key are hashed once each, and a score is a few integer
// operations on them: the same 10 million scores take tens of milliseconds. Owner
// compatibility with MetalLB would only matter if MetalLB and ironlb speakers
// announced side by side, which they cannot: their liveness protocols differ.
//
// The score is deterministic across processes and machines (FNV-1a and a fixed
// mixer, no per-process seed), so every speaker computes the same owner.
//
// The caller filters the candidates (advertisement node selectors,
// NetworkUnavailable, the exclude-from-external-load-balancers label, nodes
// with a serving endpoint for externalTrafficPolicy=Local, interfaces, and
// liveness); this package does no I/O.
package rendezvous

import (
	"net/netip"
	"runtime"
	"sync"
)

// NodeKey is the part of the score that depends only on the node.
func NodeKey(node string) uint64 {
	// FNV-1a 64, then a finalizer so similar names (worker-0001, worker-0002)
	// give unrelated keys.
	h := uint64(14695981039346656037)
	for i := 0; i < len(node); i++ {
		h ^= uint64(node[i])
		h *= 1099511628211
	}
	return mix(h)
}

// IPKey is the part of the score that depends only on the IP. IPv4-mapped IPv6
// addresses count as their IPv4 address; zones are ignored.
func IPKey(ip netip.Addr) uint64 {
	b := canonical(ip).As16()
	hi := uint64(b[0])<<56 | uint64(b[1])<<48 | uint64(b[2])<<40 | uint64(b[3])<<32 | uint64(b[4])<<24 | uint64(b[5])<<16 | uint64(b[6])<<8 | uint64(b[7])
	lo := uint64(b[8])<<56 | uint64(b[9])<<48 | uint64(b[10])<<40 | uint64(b[11])<<32 | uint64(b[12])<<24 | uint64(b[13])<<16 | uint64(b[14])<<8 | uint64(b[15])
	return mix(mix(hi^0x9e3779b97f4a7c15) ^ lo)
}

// score combines the two keys. mix is a bijection on 64 bits, so for one IP the
// scores of distinct node keys are distinct and pseudo-randomly ordered.
func score(node, ip uint64) uint64 { return mix(node ^ ip) }

// Score returns the ranking key of node for ip; the candidate with the smallest
// Score owns ip (ties, which need a 64-bit collision, go to the smaller name).
func Score(node string, ip netip.Addr) uint64 { return score(NodeKey(node), IPKey(ip)) }

// mix is splitmix64's finalizer: cheap, and every input bit affects every output bit.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Owner returns the candidate that announces ip, or false if there are no
// candidates. The order of candidates does not matter; duplicates are harmless.
func Owner(ip netip.Addr, candidates []string) (string, bool) {
	ik := IPKey(ip)
	winner, best, found := "", uint64(0), false
	for _, node := range candidates {
		s := score(NodeKey(node), ik)
		if !found || s < best || (s == best && node < winner) {
			winner, best, found = node, s, true
		}
	}
	return winner, found
}

// Owners decides every IP in ips against the same candidates (the usual case:
// all Services whose advertisements select the same nodes). The result is
// parallel to ips; an entry is "" when there are no candidates. Node keys are
// computed once per call; large batches are split across GOMAXPROCS goroutines.
func Owners(ips []netip.Addr, candidates []string) []string {
	keys := make([]uint64, len(candidates))
	for i, n := range candidates {
		keys[i] = NodeKey(n)
	}
	return ownersWithKeys(ips, candidates, keys)
}

func ownersWithKeys(ips []netip.Addr, candidates []string, keys []uint64) []string {
	out := make([]string, len(ips))
	if len(candidates) == 0 {
		return out
	}
	workers := min(runtime.GOMAXPROCS(0), 1+len(ips)*len(candidates)/(1<<20))
	chunk := (len(ips) + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < len(ips); lo += chunk {
		hi := min(lo+chunk, len(ips))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				ik := IPKey(ips[i])
				w, best := 0, score(keys[0], ik)
				for j := 1; j < len(keys); j++ {
					s := score(keys[j], ik)
					if s < best || (s == best && candidates[j] < candidates[w]) {
						w, best = j, s
					}
				}
				out[i] = candidates[w]
			}
		})
	}
	wg.Wait()
	return out
}

// canonical drops what does not name a different address: the IPv4-mapped form
// and zones.
func canonical(ip netip.Addr) netip.Addr {
	return ip.Unmap().WithZone("")
}
