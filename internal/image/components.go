package image

import (
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Component is one of ironlb's images.
type Component struct {
	Name string // image name: ironlb-controller, ironlb-speaker, ironlb-pause
	Spec Spec
}

// Users the images run as. The controller and pause run as the conventional
// "nonroot" user (65532, as distroless). The speaker runs as root inside the
// container: it opens AF_PACKET (ARP) and raw ICMPv6 (NDP) sockets on the host
// network, which needs CAP_NET_RAW in the effective set; a non-root user gets no
// effective capabilities from the runtime's bounding set without file
// capabilities, which an image layer cannot portably carry. The DaemonSet drops
// every other capability.
const (
	NonRootUser = "65532:65532"
	RootUser    = "0:0"
)

// Components lists ironlb's images, their binaries in binDir, their users and
// their labels. The Dockerfile builds the same three.
func Components(binDir, version, revision, source string) []Component {
	labels := func(title string) map[string]string {
		return map[string]string{
			LabelSource:   source,
			LabelVersion:  version,
			LabelRevision: revision,
			LabelTitle:    title,
		}
	}
	return []Component{
		{Name: "ironlb-controller", Spec: Spec{Binary: filepath.Join(binDir, "controller"), BinaryName: "controller", User: NonRootUser, Labels: labels("ironlb-controller")}},
		{Name: "ironlb-speaker", Spec: Spec{Binary: filepath.Join(binDir, "speaker"), BinaryName: "speaker", User: RootUser, Labels: labels("ironlb-speaker")}},
		{Name: "ironlb-pause", Spec: Spec{Binary: filepath.Join(binDir, "ironlb-pause"), BinaryName: "pause", User: NonRootUser, Labels: labels("ironlb-pause")}},
	}
}

// CompressedSize is what a registry stores and a node pulls: the manifest, the
// config and the compressed layers.
func CompressedSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	total := m.Config.Size
	for _, l := range m.Layers {
		total += l.Size
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	return total + int64(len(raw)), nil
}
