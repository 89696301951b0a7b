// Package oci packages meshwaf.wasm as the two OCI image layouts istio-agent can pull
// (istio.io/istio/pkg/wasm), writes them as OCI image layouts and pushes them.
//
//   - The Wasm OCI artifact ("oci variant" of the Wasm image specification istio-agent
//     implements): config application/vnd.module.wasm.config.v1+json and the module, raw, as a
//     layer application/vnd.module.wasm.content.layer.v1+wasm. istio-agent accepts this variant
//     only with exactly two layers, so the config blob is also carried as the second layer
//     (media type application/vnd.module.wasm.config.v1+json), as Istio's own tests build it;
//     with the module alone it answers "number of layers must be 2 but got 1".
//   - The Docker-compatible image ("compat variant"): a Docker v2 manifest whose last layer is a
//     tar.gz holding plugin.wasm; what `docker build` of a FROM scratch / COPY plugin.wasm
//     Dockerfile gives, for registries that refuse custom media types.
//
// Both are reproducible: the same module gives the same digests.
package oci

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of the Wasm image specification (oci variant).
const (
	WasmConfigMediaType  types.MediaType = "application/vnd.module.wasm.config.v1+json"
	WasmContentMediaType types.MediaType = "application/vnd.module.wasm.content.layer.v1+wasm"
	// CompatFileName is the file the compat variant's last layer must hold.
	CompatFileName = "plugin.wasm"
)

// wasmConfig is the artifact's config blob: the Proxy-Wasm ABI the module exports
// (proxy_abi_version_0_2_1). istio-agent does not read it.
var wasmConfig = []byte(`{"abiVersions":["proxy_abi_version_0_2_1"]}`)

// Variant names one of the two image layouts.
type Variant string

const (
	Artifact Variant = "artifact" // the Wasm OCI artifact
	Compat   Variant = "compat"   // the Docker-compatible image
)

// Variants are both layouts, in the order Build returns them.
var Variants = []Variant{Artifact, Compat}

// Build returns the image of variant v for the module.
func Build(v Variant, wasm []byte) (v1.Image, error) {
	switch v {
	case Artifact:
		return WasmArtifact(wasm)
	case Compat:
		return DockerCompat(wasm)
	}
	return nil, fmt.Errorf("unknown image variant %q (want %q or %q)", v, Artifact, Compat)
}

// WasmArtifact builds the Wasm OCI artifact.
func WasmArtifact(wasm []byte) (v1.Image, error) {
	layers := []v1.Layer{
		static.NewLayer(wasm, WasmContentMediaType),
		static.NewLayer(wasmConfig, WasmConfigMediaType),
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        descriptor(WasmConfigMediaType, wasmConfig),
	}
	for _, l := range layers {
		d, err := partial.Descriptor(l)
		if err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, *d)
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	// mutate would write an image config (rootfs, history) of its own; an artifact's config
	// is the blob its media type says, so the manifest is written here.
	return partial.CompressedToImage(&artifact{manifest: raw, config: wasmConfig, layers: layers})
}

func descriptor(mt types.MediaType, blob []byte) v1.Descriptor {
	h, n, _ := v1.SHA256(bytes.NewReader(blob))
	return v1.Descriptor{MediaType: mt, Size: n, Digest: h}
}

// artifact is an image with a raw config blob, for partial.CompressedToImage.
type artifact struct {
	manifest, config []byte
	layers           []v1.Layer
}

func (a *artifact) RawConfigFile() ([]byte, error)      { return a.config, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range a.layers {
		if d, err := l.Digest(); err == nil && d == h {
			return l, nil
		}
	}
	if d := descriptor(WasmConfigMediaType, a.config).Digest; d == h {
		return static.NewLayer(a.config, WasmConfigMediaType), nil
	}
	return nil, fmt.Errorf("no blob %s in the artifact", h)
}

// DockerCompat builds the Docker-compatible image: one tar.gz layer holding plugin.wasm.
func DockerCompat(wasm []byte) (v1.Image, error) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	// A fixed header (no time stamps, root owner) keeps the digest reproducible.
	if err := tw.WriteHeader(&tar.Header{Name: CompatFileName, Mode: 0o644, Size: int64(len(wasm)), Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(wasm); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := tarBuf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
	img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.DockerLayer})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "wasip1", "wasm"
	return mutate.ConfigFile(img, cf)
}

// Digest returns the image's manifest digest in hex: the sha256 a WasmPlugin or
// TrafficExtension names for an oci:// url.
func Digest(img v1.Image) (string, error) {
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return d.Hex, nil
}

// WriteLayout writes img as an OCI image layout in dir (replacing what is there), tagged
// ref.name=tag so tools such as crane and skopeo can address it.
func WriteLayout(dir string, img v1.Image, tag string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	return p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": tag,
	}))
}

// Push uploads img to ref (e.g. registry.example.com/meshwaf:1.0), with the credentials
// of the default keychain (the docker config), like crane and istio-agent use.
func Push(ref string, img v1.Image, opts ...remote.Option) error {
	r, err := name.ParseReference(ref)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	return remote.Write(r, img, opts...)
}
