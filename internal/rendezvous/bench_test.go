package rendezvous

import (
	"testing"
	"time"
)

// BenchmarkOwners10kIPs1kNodes decides owners for 10,000 IPs across 1,000
// nodes (target: under 100 ms per operation).
//
//   - onepass: the stateless Owners, from scratch;
//   - cache-cold: a new Cache every operation (a speaker's start);
//   - cache-failover: a warm Cache re-deciding every IP after one node drops
//     out, which is what a speaker does on each membership change.
func BenchmarkOwners10kIPs1kNodes(b *testing.B) {
	nodes := names(1000)
	ips := addrs(10000)
	b.Run("onepass", func(b *testing.B) {
		for b.Loop() {
			Owners(ips, nodes)
		}
	})
	b.Run("cache-cold", func(b *testing.B) {
		for b.Loop() {
			NewCache().Owners(ips, nodes)
		}
	})
	b.Run("cache-failover", func(b *testing.B) {
		c := NewCache()
		c.Owners(ips, nodes)
		cands := make([]string, 0, len(nodes))
		i := 0
		for b.Loop() {
			dead := nodes[i%len(nodes)]
			i++
			cands = cands[:0]
			for _, n := range nodes {
				if n != dead {
					cands = append(cands, n)
				}
			}
			c.Owners(ips, cands)
		}
	})
}

// BenchmarkRehashBaseline1kNodes is MetalLB's comparator-rehash ordering for
// 100 IPs across 1,000 nodes (10,000 IPs would take about half a minute per
// operation). Compare ns/ip with BenchmarkSpeedupVsRehash's figures.
func BenchmarkRehashBaseline1kNodes(b *testing.B) {
	nodes := names(1000)
	ips := addrs(100)
	for b.Loop() {
		for _, ip := range ips {
			rehashOwner(ip, nodes)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ips)), "ns/ip")
}

// BenchmarkSpeedupVsRehash times the baseline, the one-pass Owner and a warm
// Cache on the same 100 IPs × 1,000 nodes in each operation and reports how
// many times faster the two are than the baseline.
func BenchmarkSpeedupVsRehash(b *testing.B) {
	nodes := names(1000)
	ips := addrs(100)
	c := NewCache()
	c.Owners(ips, nodes)
	var base, one, cached time.Duration
	for b.Loop() {
		t0 := time.Now()
		for _, ip := range ips {
			rehashOwner(ip, nodes)
		}
		t1 := time.Now()
		for _, ip := range ips {
			Owner(ip, nodes)
		}
		t2 := time.Now()
		c.Owners(ips, nodes[1:]) // one node gone
		t3 := time.Now()
		base, one, cached = base+t1.Sub(t0), one+t2.Sub(t1), cached+t3.Sub(t2)
	}
	b.ReportMetric(float64(base)/float64(one), "x-onepass")
	b.ReportMetric(float64(base)/float64(cached), "x-cache")
	b.ReportMetric(float64(base.Nanoseconds())/float64(b.N*len(ips)), "baseline-ns/ip")
}
