package allocator

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Sentinel errors. Every error returned by the Allocator is an *Error whose
// Unwrap gives one of these, so callers can use errors.Is; the message
// itself follows MetalLB's wording.
var (
	// ErrUnknownPool: the named pool does not exist. The controller falls
	// back to auto-assign pools for an unknown address-pool annotation.
	ErrUnknownPool = errors.New("unknown pool")
	// ErrNoAvailableIPs: no pool (or not the named pool) has a free or
	// shareable address of the wanted families.
	ErrNoAvailableIPs = errors.New("no available IPs")
	// ErrNotAllowed: a requested address is in no pool, or not in the
	// named pool, or is a .0/.255 address of a pool that avoids them, or
	// the requested addresses are in different pools.
	ErrNotAllowed = errors.New("not allowed in config")
	// ErrNotCompatible: the pool's serviceAllocation does not admit the
	// Service (namespace or labels).
	ErrNotCompatible = errors.New("pool not compatible for ip assignment")
	// ErrSharing: the address is used by another Service with a different
	// (or empty) sharing key or a different backend key.
	ErrSharing = errors.New("sharing not allowed")
	// ErrPortInUse: the address is shareable but a (protocol, port) pair is
	// already used on it by another Service.
	ErrPortInUse = errors.New("port already in use")
	// ErrFamily: requested addresses do not fit the Service's families
	// (too many, two of one family, a family the Service does not have).
	ErrFamily = errors.New("ip family mismatch")
	// ErrInvalid: malformed request (empty Service key, invalid address).
	ErrInvalid = errors.New("invalid request")
	// ErrNotAllocated: the Service holds no allocation.
	ErrNotAllocated = errors.New("service has no allocation")
)

// Error is the error type returned by the Allocator.
type Error struct {
	Err error  // one of the sentinels above
	Msg string // the full message
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

func errf(kind error, format string, args ...any) error {
	return &Error{Err: kind, Msg: fmt.Sprintf(format, args...)}
}

func errNoAvailable() error { return &Error{Err: ErrNoAvailableIPs, Msg: "no available IPs"} }

func errNoAvailableInPool(pool string) error {
	return errf(ErrNoAvailableIPs, "no available IPs in pool %q", pool)
}

func errUnknownPool(pool string) error { return errf(ErrUnknownPool, "unknown pool %q", pool) }

func errNotAllowed(ip netip.Addr) error {
	return errf(ErrNotAllowed, "%q is not allowed in config", ip.String())
}

func errNotCompatible(pool string) error {
	return errf(ErrNotCompatible, "pool %q not compatible for ip assignment", pool)
}

func errPortInUse(p Port, ip netip.Addr) error {
	return errf(ErrPortInUse, "port %s is already in use on %q", p, ip.String())
}

func errSharing(svc string, others []string) error {
	sort.Strings(others)
	return errf(ErrSharing, "can't change sharing key for %q, address also in use by %s", svc, strings.Join(others, ","))
}
