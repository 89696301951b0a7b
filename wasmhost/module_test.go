package wasmhost_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meshwaf/meshwaf/internal/wasmbuild"
	"github.com/meshwaf/meshwaf/wasmhost"
)

func TestCompileRejectsNonProxyWasm(t *testing.T) {
	empty := []byte("\x00asm\x01\x00\x00\x00") // a valid module with no exports
	_, err := wasmhost.Compile(context.Background(), empty, wasmhost.WithCacheDir(""))
	if err == nil || !strings.Contains(err.Error(), "proxy_abi_version_0_2_1") {
		t.Fatalf("want an error naming the missing ABI marker, got %v", err)
	}
}

func TestCompilationCacheOnDisk(t *testing.T) {
	testModule(t) // builds the wasm (and skips under -short)
	path, err := wasmbuild.Build(wasmbuild.Options{Package: "./internal/abitest/testplugin"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	compile := func() time.Duration {
		start := time.Now()
		m, err := wasmhost.CompileFile(context.Background(), path, wasmhost.WithCacheDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	cold := compile()
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		t.Fatalf("cache dir %s empty after compiling (%v)", dir, err)
	}
	warm := compile()
	t.Logf("compile: cold %v, from disk cache %v", cold, warm)
}
