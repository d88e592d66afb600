package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// InNetNS runs fn on an OS thread switched into the named network namespace
// (/var/run/netns/<ns>), then switches the thread back. Sockets created by
// fn stay in that namespace for their whole life, so the parent process can
// talk to the apiserver and dial from the client without leaving the root
// namespace itself. fn must not start goroutines that create sockets.
func InNetNS(ns string, fn func() error) error {
	target, err := os.Open(filepath.Join("/var/run/netns", ns))
	if err != nil {
		return fmt.Errorf("opening netns %s: %w", ns, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: the runtime destroys it when this
			// goroutine exits, so no other goroutine runs in the wrong netns.
			errc <- ferr
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// NSDialer returns a Dial function (net.Dialer.DialContext's signature) whose
// connections are created inside network namespace ns.
func NSDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := InNetNS(ns, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// DialIn dials addr from namespace ns with a timeout.
func DialIn(ns, network, addr string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return NSDialer(ns)(ctx, network, addr)
}

// monoNow is CLOCK_MONOTONIC in nanoseconds: comparable across processes on
// the same machine (unlike Go's per-process monotonic readings), immune to
// wall-clock steps. The fault injector and the client probe both use it.
func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// MonoNow is the exported CLOCK_MONOTONIC reading (ns), see monoNow.
func MonoNow() int64 { return monoNow() }
