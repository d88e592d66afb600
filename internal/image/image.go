// Package image builds ironlb's container images from static binaries, without
// Docker, a registry or a base image: one layer holding the binary and the
// /etc/passwd and /etc/group that name its user, an OCI config, written as an OCI
// image layout in a tar archive (`ctr images import`, `podman load`, `skopeo copy
// oci-archive:`). Every timestamp, owner and order is fixed, so the same binaries
// give the same digests on any machine.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// rootfs holds the files every ironlb image carries besides its binary. The
// Dockerfile copies the same files, so both ways give the same content.
//
//go:embed rootfs/etc/passwd rootfs/etc/group
var rootfs embed.FS

// Label keys from the OCI image spec's annotations, used as image labels.
const (
	LabelSource   = "org.opencontainers.image.source"
	LabelVersion  = "org.opencontainers.image.version"
	LabelRevision = "org.opencontainers.image.revision"
	LabelTitle    = "org.opencontainers.image.title"
)

// Spec is one image.
type Spec struct {
	// Binary is the path of the static binary on disk; it becomes /<BinaryName>.
	Binary     string
	BinaryName string
	// User is "uid:gid" ("65532:65532" for non-root; "0:0" for the speaker,
	// which needs raw sockets on the host network).
	User   string
	Labels map[string]string
	// Created is the time written in the config and on every file: a fixed value
	// (SOURCE_DATE_EPOCH, or the Unix epoch) so that builds are reproducible.
	Created time.Time
	// Arch is the GOARCH of the binary (the image's platform); OS is always linux.
	Arch string
}

// Build assembles the image described by spec.
func Build(spec Spec) (v1.Image, error) {
	if spec.BinaryName == "" || path.Base(spec.BinaryName) != spec.BinaryName {
		return nil, fmt.Errorf("image: BinaryName %q must be a plain file name", spec.BinaryName)
	}
	bin, err := os.ReadFile(spec.Binary)
	if err != nil {
		return nil, fmt.Errorf("image: reading the binary: %w", err)
	}
	layerTar, err := layerTar(spec, bin)
	if err != nil {
		return nil, err
	}
	// Best compression rather than go-containerregistry's default (best speed): the
	// layer is built once and pulled by every node.
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   v1.Time{Time: spec.Created.UTC()},
			CreatedBy: "ironlb internal/image: /" + spec.BinaryName + ", /etc/passwd, /etc/group",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	arch := spec.Arch
	if arch == "" {
		arch = "amd64"
	}
	cfg.Architecture, cfg.OS = arch, "linux"
	cfg.Created = v1.Time{Time: spec.Created.UTC()}
	cfg.Config.Entrypoint = []string{"/" + spec.BinaryName}
	cfg.Config.User = spec.User
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{"PATH=/"}
	cfg.Config.Labels = spec.Labels
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("image: config: %w", err)
	}
	return img, nil
}

// layerTar is the uncompressed layer: directories, then files, in a fixed order,
// owned by root, with the fixed time, so the bytes depend on the content only.
func layerTar(spec Spec, bin []byte) ([]byte, error) {
	type file struct {
		name string
		mode int64
		data []byte
	}
	files := []file{{name: spec.BinaryName, mode: 0o755, data: bin}}
	for _, name := range []string{"etc/passwd", "etc/group"} {
		data, err := fs.ReadFile(rootfs, "rootfs/"+name)
		if err != nil {
			return nil, err
		}
		files = append(files, file{name: name, mode: 0o644, data: data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := spec.Created.UTC()
	for _, dir := range []string{"etc/", "tmp/"} {
		mode := int64(0o755)
		if dir == "tmp/" {
			// A writable /tmp for anyone who mounts an emptyDir there or runs without
			// readOnlyRootFilesystem; sticky like every /tmp.
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: mode, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Tagged is an image and the reference it is imported as
// ("ghcr.io/ironlb/ironlb-controller:v0.3.0").
type Tagged struct {
	Ref   string
	Image v1.Image
}

// WriteArchive writes images as one OCI image layout in a tar archive. Each
// manifest carries its reference twice: io.containerd.image.name (the full
// reference `ctr images import` uses) and org.opencontainers.image.ref.name (the
// tag, as the OCI layout spec has it).
func WriteArchive(w io.Writer, images ...Tagged) error {
	type blob struct {
		digest string
		data   []byte
	}
	var blobs []blob
	seen := map[string]bool{}
	add := func(h v1.Hash, data []byte) {
		if !seen[h.String()] {
			seen[h.String()] = true
			blobs = append(blobs, blob{digest: h.Hex, data: data})
		}
	}
	type descriptor struct {
		MediaType   types.MediaType   `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
		Platform    *v1.Platform      `json:"platform,omitempty"`
	}
	var manifests []descriptor
	for _, t := range images {
		img := t.Image
		manifest, err := img.RawManifest()
		if err != nil {
			return err
		}
		digest, err := img.Digest()
		if err != nil {
			return err
		}
		cfgName, err := img.ConfigName()
		if err != nil {
			return err
		}
		cfg, err := img.RawConfigFile()
		if err != nil {
			return err
		}
		cfgFile, err := img.ConfigFile()
		if err != nil {
			return err
		}
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, l := range layers {
			h, err := l.Digest()
			if err != nil {
				return err
			}
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			data, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return err
			}
			add(h, data)
		}
		add(cfgName, cfg)
		add(digest, manifest)
		mt, err := img.MediaType()
		if err != nil {
			return err
		}
		manifests = append(manifests, descriptor{
			MediaType: mt,
			Digest:    digest.String(),
			Size:      int64(len(manifest)),
			Annotations: map[string]string{
				"io.containerd.image.name":          t.Ref,
				"org.opencontainers.image.ref.name": tagOf(t.Ref),
			},
			Platform: &v1.Platform{OS: cfgFile.OS, Architecture: cfgFile.Architecture},
		})
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIImageIndex,
		"manifests":     manifests,
	})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0).UTC()
	writeFile := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	if err := writeFile("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := writeFile("index.json", index); err != nil {
		return err
	}
	for _, b := range blobs {
		if err := writeFile("blobs/sha256/"+b.digest, b.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// tagOf returns the tag of a reference ("v0.3.0" of "ghcr.io/x/y:v0.3.0"), or
// "latest" when it has none. A colon before the last slash is a registry port.
func tagOf(ref string) string {
	for i := len(ref) - 1; i >= 0; i-- {
		switch ref[i] {
		case ':':
			return ref[i+1:]
		case '/':
			return "latest"
		}
	}
	return "latest"
}
