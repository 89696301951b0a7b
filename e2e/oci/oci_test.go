package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"istio.io/istio/pkg/util/sets"
	istiowasm "istio.io/istio/pkg/wasm"

	"github.com/meshwaf/meshwaf/e2e/internal/plugin"
)

// TestIstioAgentPullsBothVariants pushes both images to an in-process registry and fetches
// them with istio-agent's own code (pkg/wasm's LocalFileCache, as the agent runs it for a
// WasmPlugin): the sha256 given is the manifest digest, the module extracted must be
// byte-for-byte build/meshwaf.wasm.
func TestIstioAgentPullsBothVariants(t *testing.T) {
	wasm, err := os.ReadFile(plugin.WasmPath(t))
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(wasm)

	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")

	cache := istiowasm.NewLocalFileCache(t.TempDir(), istiowasm.Options{
		InsecureRegistries:    sets.New(host),
		HTTPRequestTimeout:    30 * time.Second,
		HTTPRequestMaxRetries: istiowasm.DefaultHTTPRequestMaxRetries,
	})
	defer cache.Cleanup()

	for _, v := range Variants {
		t.Run(string(v), func(t *testing.T) {
			img, err := Build(v, wasm)
			if err != nil {
				t.Fatal(err)
			}
			digest, err := Digest(img)
			if err != nil {
				t.Fatal(err)
			}
			ref := host + "/meshwaf:" + string(v)
			if err := Push(ref, img); err != nil {
				t.Fatalf("push %s: %v", ref, err)
			}
			opts := istiowasm.GetOptions{
				Checksum:        digest, // what the WasmPlugin's sha256 says
				ResourceName:    "default.meshwaf-" + string(v),
				ResourceVersion: "1",
				RequestTimeout:  time.Minute,
				PullPolicy:      istiowasm.Always,
			}
			path, err := cache.Get("oci://"+ref, opts)
			if err != nil {
				t.Fatalf("istio-agent's fetcher: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(got); sum != want {
				t.Fatalf("extracted module sha256 %x, want build/meshwaf.wasm's %x", sum, want)
			}

			// The sha256 is the manifest digest, not the module's: the module's is refused.
			opts.Checksum = hex.EncodeToString(want[:])
			opts.ResourceVersion = "2"
			if _, err := cache.Get("oci://"+ref, opts); err == nil || !strings.Contains(err.Error(), "does not match") {
				t.Errorf("fetch with the module's sha256 instead of the manifest digest: %v, want a checksum mismatch", err)
			}
		})
	}

	// An http(s) url (a blob store, as envoy-remote.yaml): there sha256 is the module's own.
	t.Run("http", func(t *testing.T) {
		srv := httptest.NewServer(httpFile(wasm))
		defer srv.Close()
		path, err := cache.Get(srv.URL+"/meshwaf.wasm", istiowasm.GetOptions{
			Checksum: hex.EncodeToString(want[:]), ResourceName: "default.meshwaf-http",
			ResourceVersion: "1", RequestTimeout: time.Minute,
		})
		if err != nil {
			t.Fatalf("istio-agent's http fetcher: %v", err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, wasm) {
			t.Error("module fetched over http differs from build/meshwaf.wasm")
		}
	})
}

// A single-layer artifact (the module alone) is refused by istio-agent: the reason the
// artifact also carries its config as a second layer.
func TestIstioAgentRefusesSingleLayerArtifact(t *testing.T) {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	host := strings.TrimPrefix(reg.URL, "http://")
	wasm := []byte("\x00asm\x01\x00\x00\x00")
	img, err := WasmArtifact(wasm)
	if err != nil {
		t.Fatal(err)
	}
	one, err := singleLayer(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := Push(host+"/one:layer", one); err != nil {
		t.Fatal(err)
	}
	f := istiowasm.NewImageFetcher(context.Background(), istiowasm.ImageFetcherOption{Insecure: true})
	fetch, _, err := f.PrepareFetch(host + "/one:layer")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fetch(); err == nil || !strings.Contains(err.Error(), "number of layers must be 2") {
		t.Errorf("single-layer artifact: %v, want istio-agent's two-layer error", err)
	}
}

func TestLayoutsAreReproducible(t *testing.T) {
	wasm := []byte("\x00asm\x01\x00\x00\x00 meshwaf")
	dir := t.TempDir()
	for _, v := range Variants {
		a, err := Build(v, wasm)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Build(v, wasm)
		da, _ := Digest(a)
		db, _ := Digest(b)
		if da != db {
			t.Errorf("%s: two builds of the same module differ: %s, %s", v, da, db)
		}
		p := filepath.Join(dir, string(v))
		if err := WriteLayout(p, a, "meshwaf"); err != nil {
			t.Fatal(err)
		}
		idx, err := layout.ImageIndexFromPath(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Manifests) != 1 || m.Manifests[0].Digest.Hex != da {
			t.Errorf("%s: layout index %+v, want the one image %s", v, m.Manifests, da)
		}
	}
}

func httpFile(data []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(data) })
}

// singleLayer rewrites an artifact's manifest to keep only its first (module) layer.
func singleLayer(img v1.Image) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	m = m.DeepCopy()
	m.Layers = m.Layers[:1]
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	a := img.(interface{ Layers() ([]v1.Layer, error) })
	layers, err := a.Layers()
	if err != nil {
		return nil, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{manifest: raw, config: cfg, layers: layers[:1]})
}
