package liveness

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestRejects(t *testing.T) {
	now := time.Unix(2_000_000, 0)
	tm := newTiming(tI, tStop, tDead)
	mk := func(name string, key []byte, inc uint64, peers ...string) *state {
		st := newState(tm, name, key, inc)
		m := map[string]netip.AddrPort{}
		for _, p := range peers {
			m[p] = netip.AddrPort{}
		}
		st.setPeers(now, m)
		st.run(now)
		return st
	}
	a := mk("a", testKey, 11, "b")
	hb1 := a.heartbeat(now, nil)
	hb2 := a.heartbeat(now, nil)
	aRestarted := mk("a", testKey, 12, "b")
	hbNew := aRestarted.heartbeat(now, nil)
	hbOldLater := a.heartbeat(now, nil) // old incarnation, higher sequence
	forged := mk("a", []byte("another key, not the secret"), 11, "b").heartbeat(now, nil)
	stranger := mk("x", testKey, 13, "b").heartbeat(now, nil)
	mirror := mk("b", testKey, 14, "a").heartbeat(now, nil)
	flipped := bytes.Clone(hb2)
	flipped[headerLen+1] ^= 1 // inside the name

	leaver := mk("a", testKey, 15, "b")
	bye := leaver.leave(nil)
	afterBye := func() []byte { // what a compromised clock or bug might send
		leaver.left = false
		defer func() { leaver.left = true }()
		return leaver.heartbeat(now, nil)
	}()

	b := mk("b", testKey, 20, "a")
	steps := []struct {
		name string
		pkt  []byte
		want error // nil: accepted
	}{
		{"first heartbeat", hb1, nil},
		{"same heartbeat again (replay)", hb1, errReplay},
		{"next heartbeat", hb2, nil},
		{"older heartbeat (replay)", hb1, errReplay},
		{"wrong key", forged, errMAC},
		{"one bit flipped", flipped, errMAC},
		{"truncated", hb2[:len(hb2)-1], errMAC},
		{"too short to hold a MAC", hb2[:10], errMalformed},
		{"unknown sender", stranger, errUnknown},
		{"someone claiming to be us", mirror, errUnknown},
		{"the peer restarted", hbNew, nil},
		{"message from its previous incarnation", hbOldLater, errReplay},
		{"goodbye from a third incarnation", bye, nil},
		{"heartbeat from the departed incarnation", afterBye, errReplay},
	}
	for _, step := range steps {
		err := b.receive(now, step.pkt)
		if !errors.Is(err, step.want) || (step.want == nil) != (err == nil) {
			t.Errorf("%s: got %v, want %v", step.name, err, step.want)
		}
	}
	want := Stats{Received: 14, Accepted: 4, RejectedMAC: 3, RejectedMalformed: 1, RejectedReplay: 4, RejectedUnknown: 2, LeavesReceived: 1}
	if b.stats != want {
		t.Errorf("stats = %+v\nwant    %+v", b.stats, want)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	mac := newMAC(testKey)
	in := message{kind: kindHeartbeat, inQuorum: true, incarnation: 1 << 60, seq: 42, name: "node-1",
		entries: []entry{{1, reportHears}, {7, reportHears | reportStable}, {1 << 63, reportGone}}}
	pkt := encode(nil, mac, &in)
	out, err := decode(pkt, mac, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.kind != in.kind || out.inQuorum != in.inQuorum || out.incarnation != in.incarnation ||
		out.seq != in.seq || out.name != in.name || len(out.entries) != len(in.entries) {
		t.Fatalf("round trip: %+v != %+v", out, in)
	}
	for i := range in.entries {
		if out.entries[i] != in.entries[i] {
			t.Fatalf("entry %d: %+v != %+v", i, out.entries[i], in.entries[i])
		}
	}
}

// FuzzDecode: decode never panics and never accepts a datagram whose MAC is
// wrong. Each input is tried twice: as received (the fuzzer cannot forge a
// MAC, so this only passes seeds) and with a valid MAC appended, which
// drives the parser; anything accepted must re-encode to the same bytes.
func FuzzDecode(f *testing.F) {
	mac := newMAC(testKey)
	hb := message{kind: kindHeartbeat, inQuorum: true, incarnation: 3, seq: 9, name: "n", entries: []entry{{5, 3}, {6, 4}}}
	f.Add(encode(nil, mac, &hb))
	f.Add(encode(nil, mac, &message{kind: kindLeave, incarnation: 3, seq: 10, name: "node-with-a-longer-name"}))
	f.Add([]byte("IL\x01\x01\x00\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(pkt []byte) {
			m, err := decode(pkt, mac, nil)
			if err != nil {
				return
			}
			h := hmac.New(sha256.New, testKey)
			h.Write(pkt[:len(pkt)-macLen])
			if !hmac.Equal(h.Sum(nil), pkt[len(pkt)-macLen:]) {
				t.Fatalf("accepted %x without a valid MAC", pkt)
			}
			if again := encode(nil, mac, &m); !bytes.Equal(again, pkt) {
				t.Fatalf("accepted a non-canonical message:\n%x\n%x", pkt, again)
			}
		}
		check(data)
		h := hmac.New(sha256.New, testKey)
		h.Write(data)
		check(h.Sum(bytes.Clone(data)))
	})
}
