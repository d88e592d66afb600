// Command ironlb-image builds ironlb's container images as OCI archives from static
// binaries already built (make images builds them first with CGO_ENABLED=0,
// -trimpath and the version in -ldflags), with no Docker, registry or base image.
//
//	ironlb-image --bin-dir bin/static --out bin/images --version v0.3.0 --revision $(git rev-parse HEAD)
//
// writes bin/images/ironlb-{controller,speaker,pause}.oci.tar and prints each
// image's reference, digest and size.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/ironlb/ironlb/internal/image"
	"github.com/ironlb/ironlb/internal/version"
)

func main() {
	binDir := flag.String("bin-dir", "bin/static", "directory holding the static controller, speaker and ironlb-pause binaries")
	out := flag.String("out", "bin/images", "directory the OCI archives are written to")
	repo := flag.String("repository", "ghcr.io/ironlb", "registry and path the image names start with")
	ver := flag.String("version", version.Version, "image tag and org.opencontainers.image.version label")
	rev := flag.String("revision", version.Revision, "org.opencontainers.image.revision label (the git commit)")
	source := flag.String("source", "https://github.com/ironlb/ironlb", "org.opencontainers.image.source label")
	arch := flag.String("arch", runtime.GOARCH, "GOARCH the binaries were built for")
	flag.Parse()

	// SOURCE_DATE_EPOCH (reproducible-builds.org) sets the one timestamp the images
	// carry; without it, the Unix epoch, so two builds of the same binaries match.
	created := time.Unix(0, 0).UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "SOURCE_DATE_EPOCH=%q is not a number of seconds: %v\n", s, err)
			os.Exit(2)
		}
		created = time.Unix(n, 0).UTC()
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, s := range image.Components(*binDir, *ver, *rev, *source) {
		s.Spec.Created, s.Spec.Arch = created, *arch
		ref := fmt.Sprintf("%s/%s:%s", *repo, s.Name, *ver)
		img, err := image.Build(s.Spec)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", s.Name, err)
			os.Exit(1)
		}
		var buf bytes.Buffer
		if err := image.WriteArchive(&buf, image.Tagged{Ref: ref, Image: img}); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", s.Name, err)
			os.Exit(1)
		}
		path := filepath.Join(*out, s.Name+".oci.tar")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		digest, _ := img.Digest()
		size, _ := image.CompressedSize(img)
		fmt.Printf("%s\t%s\t%s\tcompressed %.1f MiB\n", path, ref, digest, float64(size)/(1<<20))
	}
}
