package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func writeBinary(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "controller")
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func spec(bin string) Spec {
	return Spec{
		Binary: bin, BinaryName: "controller", User: NonRootUser, Arch: "amd64",
		Created: time.Unix(0, 0),
		Labels:  map[string]string{LabelSource: "https://github.com/ironlb/ironlb", LabelVersion: "v1.2.3", LabelRevision: "abc"},
	}
}

func digest(t *testing.T, s Spec) v1.Hash {
	t.Helper()
	img, err := Build(s)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDigest(t *testing.T) {
	bin := writeBinary(t, "binary one")
	same := writeBinary(t, "binary one")
	other := writeBinary(t, "binary two")
	base := digest(t, spec(bin))
	cases := map[string]struct {
		spec      Spec
		wantEqual bool
	}{
		"same binary content at another path gives the same digest": {spec(same), true},
		"the file's own mtime does not leak into the image": {func() Spec {
			os.Chtimes(same, time.Now(), time.Now().Add(-time.Hour))
			return spec(same)
		}(), true},
		"different binary gives a different digest": {spec(other), false},
		"another user gives a different digest":     {func() Spec { s := spec(bin); s.User = RootUser; return s }(), false},
		"another revision label gives a different digest": {func() Spec {
			s := spec(bin)
			s.Labels = map[string]string{LabelRevision: "def"}
			return s
		}(), false},
		"SOURCE_DATE_EPOCH changes the digest": {func() Spec { s := spec(bin); s.Created = time.Unix(1700000000, 0); return s }(), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := digest(t, tc.spec); (got == base) != tc.wantEqual {
				t.Errorf("digest %s vs base %s: equal=%v, want %v", got, base, got == base, tc.wantEqual)
			}
		})
	}
}

func TestBuildContent(t *testing.T) {
	img, err := Build(spec(writeBinary(t, "#!binary")))
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want exactly one", len(layers))
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != NonRootUser || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/controller" {
		t.Errorf("config user %q entrypoint %q, want %q [/controller]", cfg.Config.User, cfg.Config.Entrypoint, NonRootUser)
	}
	for _, k := range []string{LabelSource, LabelVersion, LabelRevision} {
		if cfg.Config.Labels[k] == "" {
			t.Errorf("label %s missing", k)
		}
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cfg.OS, cfg.Architecture)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	files := map[string]*tar.Header{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
		if !h.ModTime.Equal(time.Unix(0, 0)) || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("%s: mtime %v uid %d gid %d, want the epoch and root", h.Name, h.ModTime, h.Uid, h.Gid)
		}
	}
	for _, want := range []string{"controller", "etc/passwd", "etc/group", "tmp/"} {
		if files[want] == nil {
			t.Errorf("layer lacks %s (has %v)", want, files)
		}
	}
	if h := files["controller"]; h != nil && h.Mode&0o111 == 0 {
		t.Errorf("binary mode %o is not executable", h.Mode)
	}
}

// The archive is an OCI image layout other tools read: go-containerregistry's own
// layout reader finds the image by digest and the reference annotation.
func TestWriteArchive(t *testing.T) {
	img, err := Build(spec(writeBinary(t, "x")))
	if err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := WriteArchive(&a, Tagged{Ref: "ghcr.io/ironlb/ironlb-controller:v1.2.3", Image: img}); err != nil {
		t.Fatal(err)
	}
	if err := WriteArchive(&b, Tagged{Ref: "ghcr.io/ironlb/ironlb-controller:v1.2.3", Image: img}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two archives of one image differ")
	}
	dir := t.TempDir()
	tr := tar.NewReader(&a)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, h.Name)
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		data, _ := io.ReadAll(tr)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != want {
		t.Fatalf("index %+v, want one manifest %s", m.Manifests, want)
	}
	if got := m.Manifests[0].Annotations["io.containerd.image.name"]; got != "ghcr.io/ironlb/ironlb-controller:v1.2.3" {
		t.Errorf("containerd name annotation %q", got)
	}
	if got := m.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != "v1.2.3" {
		t.Errorf("ref.name annotation %q, want the tag", got)
	}
	got, err := idx.Image(want)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.Layers(); err != nil {
		t.Fatal(err)
	}
	raw, _ := got.RawConfigFile()
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("config in the archive is not JSON: %v", err)
	}
}

func TestTagOf(t *testing.T) {
	cases := map[string]struct{ ref, want string }{
		"tag after the last colon":                    {"ghcr.io/ironlb/ironlb-speaker:v1", "v1"},
		"registry port is not a tag":                  {"localhost:5000/ironlb/speaker", "latest"},
		"registry port and a tag":                     {"localhost:5000/ironlb/speaker:dev", "dev"},
		"no tag means latest, as every registry does": {"ironlb-speaker", "latest"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := tagOf(tc.ref); got != tc.want {
				t.Errorf("tagOf(%q) = %q, want %q", tc.ref, got, tc.want)
			}
		})
	}
}

// TestReproducibleFromSource builds the real controller binary twice from source,
// as make images does, and checks the two images have one digest: the build
// flags (CGO_ENABLED=0, -trimpath, -buildid=) and the image builder together
// leave nothing that depends on the machine, the path or the time.
func TestReproducibleFromSource(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the controller twice; skipped with -short")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var digests []v1.Hash
	for i := 0; i < 2; i++ {
		out := filepath.Join(t.TempDir(), "controller")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags",
			"-s -w -buildid= -X github.com/ironlb/ironlb/internal/version.Version=v0.0.0-test",
			"-o", out, "./cmd/controller")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
		s := spec(out)
		s.Arch = runtime.GOARCH
		digests = append(digests, digest(t, s))
	}
	if digests[0] != digests[1] {
		t.Errorf("two builds of the controller gave %s and %s", digests[0], digests[1])
	}
}
