package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/registry"
)

// --registry pushes both images under one repository, each answering to the digest printed.
func TestRegistryPushesBothImages(t *testing.T) {
	reg := httptest.NewServer(registry.New())
	defer reg.Close()
	repo := strings.TrimPrefix(reg.URL, "http://") + "/meshwaf"
	dir := t.TempDir()
	wasm := filepath.Join(dir, "m.wasm")
	// A module is only bytes to the packager; the OCI tests use the real one.
	if err := os.WriteFile(wasm, []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"--wasm", wasm, "--out", filepath.Join(dir, "oci"), "--tag", "1.0", "--registry", repo}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	for _, ref := range []string{repo + ":1.0", repo + ":1.0-compat"} {
		digest, err := crane.Digest(ref, crane.Insecure)
		if err != nil {
			t.Fatalf("%s not in the registry: %v", ref, err)
		}
		if !strings.Contains(out.String(), "pushed oci://"+ref+"  sha256: "+strings.TrimPrefix(digest, "sha256:")) {
			t.Errorf("output does not report %s with digest %s:\n%s", ref, digest, out.String())
		}
	}
}

func TestRegistryAndPushConflict(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run([]string{"--registry", "r.example/m", "--push", "r.example/m:1"}, &out, &errOut); code != 2 {
		t.Fatalf("exit %d, want 2 (usage): %s", code, errOut.String())
	}
}
