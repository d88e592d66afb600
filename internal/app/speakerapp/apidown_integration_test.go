package speakerapp_test

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	metallbv1beta1 "github.com/ironlb/ironlb/api/v1beta1"
	"github.com/ironlb/ironlb/internal/speaker"
)

// cutProxy forwards TCP to the API server until cut.
type cutProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	cut   bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.sever() })
	return p
}

// sever drops every connection and refuses new ones.
func (p *cutProxy) sever() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestKeepsAnnouncingWithoutAPIServer: when the API server becomes unreachable,
// the speaker keeps announcing what it announces (liveness, not the API, decides).
func TestKeepsAnnouncingWithoutAPIServer(t *testing.T) {
	f := newFixture(t)
	// Alone with a tie breaker, a speaker is in quorum only while it holds
	// the Lease (a joining second speaker could use it against it); a
	// single-node cluster that must not depend on the API server runs
	// without one.
	f.opts = func(o *speaker.Options) { o.NoTieBreaker = true }
	name := fmt.Sprintf("t%d-lonely", f.n)
	f.node(name, "127.0.0.23", nil)
	pool := &metallbv1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "p"}, Spec: metallbv1beta1.IPAddressPoolSpec{Addresses: []string{"198.18.5.0/24"}}}
	if err := f.c.Create(f.ctx, pool); err != nil {
		t.Fatal(err)
	}
	if err := f.c.Create(f.ctx, &metallbv1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: "all"}}); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("198.18.5.5")
	f.lbService("web", ip.String(), name)

	u, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://" + proxy.ln.Addr().String()
	cfg.TLSClientConfig.ServerName = u.Hostname()
	sp := f.startWith(cfg, name, "127.0.0.23")
	f.waitOwner(ip, sp, []*speakerInst{sp}, "web", 1)

	proxy.sever()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if !sp.ann.owns(ip) {
			t.Fatal("stopped announcing when the API server went away")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
