package wasmhost_test

import (
	"context"
	"sync"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmbuild"
	"github.com/meshwaf/meshwaf/wasmhost"
)

var (
	moduleOnce sync.Once
	module     *wasmhost.Module
	moduleErr  error
)

// testModule compiles the ABI test plugin once per test binary; the wasm build and wazero's
// compilation are both cached on disk across runs.
func testModule(t *testing.T) *wasmhost.Module {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: builds and compiles the wasm test plugin (-short)")
	}
	moduleOnce.Do(func() {
		path, err := wasmbuild.Build(wasmbuild.Options{Package: "./internal/abitest/testplugin"})
		if err != nil {
			moduleErr = err
			return
		}
		module, moduleErr = wasmhost.CompileFile(context.Background(), path)
	})
	if moduleErr != nil {
		t.Fatalf("test plugin: %v", moduleErr)
	}
	return module
}

// logRecorder collects the plugin's log lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) log(level wasmhost.LogLevel, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, "["+level.String()+"] "+msg)
}

func (r *logRecorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

func newTestPlugin(t *testing.T, opts ...wasmhost.PluginOption) (*wasmhost.Plugin, *logRecorder) {
	t.Helper()
	rec := &logRecorder{}
	opts = append([]wasmhost.PluginOption{wasmhost.WithLogger(rec.log), wasmhost.WithLogLevel(wasmhost.LogTrace)}, opts...)
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
