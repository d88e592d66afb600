package liveness

import (
	"context"
	"encoding/binary"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Bind retry: a speaker whose socket cannot be bound (the address not yet
// on the node, the port still held by a previous process) keeps trying,
// and is not ready meanwhile, instead of running without liveness while its
// probes stay green.
const (
	bindBackoffMin = 100 * time.Millisecond
	bindBackoffMax = 5 * time.Second
	bindLogEvery   = 30 * time.Second
)

// oobSize holds one SCM_TIMESTAMPNS control message.
var oobSize = unix.CmsgSpace(16)

// bind binds Listen with kernel arrival timestamps on, retrying with backoff
// until it succeeds or ctx ends (nil).
func (m *Member) bind(ctx context.Context) *net.UDPConn {
	backoff := bindBackoffMin
	var lastLog time.Time
	for {
		conn, err := listen(m.cfg.Listen)
		if err == nil {
			if !lastLog.IsZero() {
				m.log.Info("liveness socket bound after failures", "listen", m.cfg.Listen)
			}
			return conn
		}
		m.mu.Lock()
		m.st.stats.BindFailures++
		m.bindErr = err
		m.mu.Unlock()
		if lastLog.IsZero() || time.Since(lastLog) >= bindLogEvery {
			m.log.Error("cannot bind the liveness socket; retrying, and not announcing until it is bound", "listen", m.cfg.Listen, "err", err)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.clock.After(backoff):
		}
		backoff = min(2*backoff, bindBackoffMax)
	}
}

func listen(addr string) (*net.UDPConn, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	raw, err := conn.SyscallConn()
	if err == nil {
		var serr error
		err = raw.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		})
		if err == nil {
			err = serr
		}
	}
	if err != nil {
		// Without arrival stamps a pause could make old heartbeats look new.
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// arrival is when a datagram reached the socket, on the member's clock.
//
// The kernel stamps the datagram with CLOCK_REALTIME (SCM_TIMESTAMPNS) when
// it is queued. The member's times carry Go's monotonic reading, which must
// be kept (the announcer compares deadlines on it and it does not jump). So
// the stamp is turned into an age: wall is time.Now() read now, whose wall
// reading is CLOCK_REALTIME too, age = wall − stamp, and the arrival is
// now − age on the member's clock. A wall clock step between arrival and
// read distorts the age by the step: forward makes datagrams look older
// (safe: support expires sooner); backward could make them look younger, so
// negative ages are clamped to 0 (the read instant, what we did before).
// Without a stamp (none in oob), the arrival is now.
func arrival(now, wall time.Time, oob []byte) time.Time {
	stamp, ok := kernelStamp(oob)
	if !ok {
		return now
	}
	age := wall.Sub(stamp)
	if age <= 0 {
		return now
	}
	return now.Add(-age)
}

func kernelStamp(oob []byte) (time.Time, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}, false
	}
	for _, msg := range msgs {
		if msg.Header.Level == syscall.SOL_SOCKET && msg.Header.Type == unix.SCM_TIMESTAMPNS && len(msg.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(msg.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(msg.Data[8:16]))
			return time.Unix(sec, nsec), true
		}
	}
	return time.Time{}, false
}
