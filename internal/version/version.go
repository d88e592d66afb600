// Package version holds the version and source revision stamped into ironlb's
// binaries at link time (make images / the Dockerfile pass -ldflags -X), so a
// running Pod can say what it is (--version, the startup log) and an image's
// labels and its binary agree.
package version

import "fmt"

// Set by the linker: -X github.com/ironlb/ironlb/internal/version.Version=v0.3.0
// -X github.com/ironlb/ironlb/internal/version.Revision=<git commit>. A plain
// `go build` leaves the defaults, which say so rather than guess.
var (
	Version  = "dev"
	Revision = "unknown"
)

// String is what --version prints: "<program> <version> (revision <rev>)".
func String(program string) string {
	return fmt.Sprintf("%s %s (revision %s)", program, Version, Revision)
}
