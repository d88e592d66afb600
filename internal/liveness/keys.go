package liveness

import (
	"bytes"
	"errors"
	"time"
)

// Key rotation. The members learn a new key at slightly different moments
// (each reads the Secret on its own), so a member that signed with the new
// key as soon as it saw it would be rejected by the peers that have not seen
// it yet, and the cluster would split for as long as that takes. Instead a
// member accepts the new key at once, keeps signing with the old one for
// KeySwitchAfter (longer than every member needs to see the new key), then
// signs with the new one and still accepts the old one for KeyGrace (for the
// members that saw the new key later than it did).
//
// A member that starts after a rotation knows only the new key: it signs
// with it at once (the others accept it) and hears the others once they
// switch, at most KeySwitchAfter later.

// Defaults for the zero values in Config.
const (
	DefaultKeySwitchAfter = 10 * time.Second
	DefaultKeyGrace       = 2 * time.Minute
)

// keyring is the member's keys; guarded by Member.mu.
type keyring struct {
	sign []byte // signs every message

	next   []byte // accepted now, signs from nextAt+switchAfter; nil if none
	nextAt time.Time

	prev      []byte // accepted until prevUntil; nil if none
	prevUntil time.Time
}

// set records key as the newest key at now.
func (k *keyring) set(now time.Time, key []byte) {
	switch {
	case bytes.Equal(key, k.sign):
		k.next = nil // a rotation undone before it took effect
	case bytes.Equal(key, k.next):
	default:
		k.next, k.nextAt = bytes.Clone(key), now
	}
}

// advance moves the ring forward to now; true if the keys in use changed.
func (k *keyring) advance(now time.Time, switchAfter, grace time.Duration) bool {
	changed := false
	if k.next != nil && now.Sub(k.nextAt) >= switchAfter {
		k.prev, k.prevUntil = k.sign, now.Add(grace)
		k.sign, k.next = k.next, nil
		changed = true
	}
	if k.prev != nil && !now.Before(k.prevUntil) {
		k.prev = nil
		changed = true
	}
	return changed
}

// accepted lists the keys other than sign that verify messages.
func (k *keyring) accepted() [][]byte {
	var out [][]byte
	for _, key := range [][]byte{k.next, k.prev} {
		if key != nil {
			out = append(out, key)
		}
	}
	return out
}

// nextChange is when advance next has something to do; zero if never.
func (k *keyring) nextChange(switchAfter time.Duration) time.Time {
	switch {
	case k.next != nil:
		return k.nextAt.Add(switchAfter)
	case k.prev != nil:
		return k.prevUntil
	}
	return time.Time{}
}

// setKeys makes the state sign with sign and accept sign and others.
func (s *state) setKeys(sign []byte, others [][]byte) {
	s.sendMAC, s.recvMAC = newMAC(sign), newMAC(sign)
	s.extraMACs = s.extraMACs[:0]
	for _, k := range others {
		s.extraMACs = append(s.extraMACs, newMAC(k))
	}
}

// decodeAnyKey decodes pkt with the signing key, then with the others
// accepted during a rotation.
func (s *state) decodeAnyKey(pkt []byte) (message, error) {
	m, err := decode(pkt, s.recvMAC, s.scratch)
	for _, mac := range s.extraMACs {
		if !errors.Is(err, errMAC) {
			break
		}
		m, err = decode(pkt, mac, s.scratch)
	}
	return m, err
}
