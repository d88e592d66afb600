package liveness

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"slices"
)

// Wire format, version 1, all integers big-endian:
//
//	0   2  magic "IL"
//	2   1  version (1)
//	3   1  kind: 1 heartbeat, 2 leave
//	4   1  flags: bit 0 = sender is in quorum
//	5   1  length of the sender's node name (1..255)
//	6   8  incarnation (start time in ns, strictly increasing per node)
//	14  8  sequence (strictly increasing per incarnation)
//	22  n  sender node name
//	.   2  entry count
//	.   9× entries, ascending by id: 8-byte peer id (sha256(name)[:8]), 1-byte flags
//	.   32 HMAC-SHA256(key, every byte before it)
//
// A heartbeat is the same for every peer of one round, so it is encoded once.
const (
	wireVersion   = 1
	headerLen     = 22
	macLen        = sha256.Size
	entryLen      = 9
	maxNameLen    = 255
	maxPacket     = 65507 // largest UDP payload over IPv4
	kindHeartbeat = 1
	kindLeave     = 2

	flagInQuorum = 1 << 0
)

// Report flags: what the sender knows about one peer when it sent the message.
const (
	// reportHears: heard within HearWindow.
	reportHears = 1 << 0
	// reportStable: heard, and heard without a gap of StopAfter or more for
	// at least StableAfter (and since the peer's current incarnation began).
	reportStable = 1 << 1
	// reportGone: left, or silent for at least DeadAfter.
	reportGone = 1 << 2
	// reportHearsMajority, in the entry about the sender itself: the sender
	// heard enough peers within StopAfter to be in quorum.
	reportHearsMajority = 1 << 3
)

var (
	errMalformed = errors.New("malformed message")
	errMAC       = errors.New("bad MAC")
)

type entry struct {
	id    uint64
	flags uint8
}

type message struct {
	kind        uint8
	inQuorum    bool
	incarnation uint64
	seq         uint64
	name        string
	entries     []entry // ascending by id
}

// peerID is the wire identity of a node name.
func peerID(name string) uint64 {
	s := sha256.Sum256([]byte(name))
	return binary.BigEndian.Uint64(s[:8])
}

// newMAC returns an HMAC-SHA256 instance for key. It is not safe for
// concurrent use; each goroutine that encodes or decodes keeps its own.
func newMAC(key []byte) hash.Hash { return hmac.New(sha256.New, key) }

// encode appends m, authenticated with mac, to buf. Entries must be sorted.
func encode(buf []byte, mac hash.Hash, m *message) []byte {
	start := len(buf)
	var flags uint8
	if m.inQuorum {
		flags |= flagInQuorum
	}
	buf = append(buf, 'I', 'L', wireVersion, m.kind, flags, uint8(len(m.name)))
	buf = binary.BigEndian.AppendUint64(buf, m.incarnation)
	buf = binary.BigEndian.AppendUint64(buf, m.seq)
	buf = append(buf, m.name...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(m.entries)))
	for _, e := range m.entries {
		buf = binary.BigEndian.AppendUint64(buf, e.id)
		buf = append(buf, e.flags)
	}
	mac.Reset()
	mac.Write(buf[start:])
	return mac.Sum(buf)
}

// decode authenticates pkt and parses it. Nothing is parsed before the MAC
// has been checked (in constant time). The returned entries reuse
// entries' backing array.
func decode(pkt []byte, mac hash.Hash, entries []entry) (message, error) {
	if len(pkt) < headerLen+1+2+macLen || len(pkt) > maxPacket {
		return message{}, errMalformed
	}
	body, sum := pkt[:len(pkt)-macLen], pkt[len(pkt)-macLen:]
	mac.Reset()
	mac.Write(body)
	var want [macLen]byte
	if !hmac.Equal(mac.Sum(want[:0]), sum) {
		return message{}, errMAC
	}
	if body[0] != 'I' || body[1] != 'L' || body[2] != wireVersion {
		return message{}, errMalformed
	}
	m := message{
		kind:        body[3],
		inQuorum:    body[4]&flagInQuorum != 0,
		incarnation: binary.BigEndian.Uint64(body[6:]),
		seq:         binary.BigEndian.Uint64(body[14:]),
	}
	if (m.kind != kindHeartbeat && m.kind != kindLeave) || body[4]&^flagInQuorum != 0 {
		return message{}, errMalformed
	}
	n := int(body[5])
	rest := body[headerLen:]
	if n == 0 || len(rest) < n+2 {
		return message{}, errMalformed
	}
	m.name, rest = string(rest[:n]), rest[n:]
	count := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) != count*entryLen {
		return message{}, errMalformed
	}
	m.entries = entries[:0]
	for i := range count {
		e := entry{id: binary.BigEndian.Uint64(rest[i*entryLen:]), flags: rest[i*entryLen+8]}
		if i > 0 && e.id <= m.entries[i-1].id {
			return message{}, errMalformed // must be strictly ascending
		}
		m.entries = append(m.entries, e)
	}
	return m, nil
}

// lookup returns the flags entries report for id, and whether id is present.
func lookup(entries []entry, id uint64) (uint8, bool) {
	i, ok := slices.BinarySearchFunc(entries, id, func(e entry, id uint64) int {
		switch {
		case e.id < id:
			return -1
		case e.id > id:
			return 1
		}
		return 0
	})
	if !ok {
		return 0, false
	}
	return entries[i].flags, true
}
