package wasmhost_test

import (
	"context"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmtest"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// testModule compiles the ABI test plugin once per test binary; the wasm build and wazero's
// compilation are both cached on disk across runs.
func testModule(t *testing.T) *wasmhost.Module {
	t.Helper()
	return wasmtest.Module(t, wasmtest.TestPlugin)
}

func newTestPlugin(t *testing.T, opts ...wasmhost.PluginOption) (*wasmhost.Plugin, *wasmtest.LogRecorder) {
	t.Helper()
	rec := &wasmtest.LogRecorder{}
	opts = append([]wasmhost.PluginOption{wasmhost.WithLogger(rec.Log), wasmhost.WithLogLevel(wasmhost.LogTrace)}, opts...)
	p, err := testModule(t).NewPlugin(context.Background(), opts...)
	if err != nil {
		t.Fatalf("NewPlugin: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return p, rec
}
