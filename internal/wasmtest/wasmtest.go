// Package wasmtest gives tests a compiled module of this repository, built and compiled once per
// test binary (both steps are also cached on disk across runs), and a recorder for its log.
package wasmtest

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmbuild"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// The full WAF plugin and the ABI test plugin, as wasmbuild packages.
const (
	Plugin     = "github.com/meshwaf/meshwaf"
	TestPlugin = "github.com/meshwaf/meshwaf/internal/abitest/testplugin"
)

// FaultTag builds the WAF plugin with internal/faultinject: its rules can make it panic on
// purpose. Production modules are never built with it.
const FaultTag = "meshwaf_faults"

type compiled struct {
	once   sync.Once
	module *wasmhost.Module
	err    error
}

var (
	mu      sync.Mutex
	modules = map[string]*compiled{}
)

// Module returns pkg compiled for the wazero host. It skips the test under -short, since the
// first build of the WAF plugin takes minutes.
func Module(t testing.TB, pkg string) *wasmhost.Module {
	t.Helper()
	return ModuleWithTags(t, pkg, nil)
}

// FaultPlugin returns the WAF plugin built with FaultTag.
func FaultPlugin(t testing.TB) *wasmhost.Module {
	t.Helper()
	return ModuleWithTags(t, Plugin, append(append([]string{}, wasmbuild.Tags...), FaultTag))
}

// ModuleWithTags is Module built with the given build tags; nil means wasmbuild's defaults.
func ModuleWithTags(t testing.TB, pkg string, tags []string) *wasmhost.Module {
	t.Helper()
	if testing.Short() {
		t.Skipf("skipping: builds and compiles %s as wasm (-short)", pkg)
	}
	key := pkg
	if tags != nil {
		key += " tags=" + strings.Join(tags, ",")
	}
	mu.Lock()
	c, ok := modules[key]
	if !ok {
		c = &compiled{}
		modules[key] = c
	}
	mu.Unlock()
	c.once.Do(func() {
		path, err := wasmbuild.Build(wasmbuild.Options{Package: pkg, Tags: tags})
		if err != nil {
			c.err = err
			return
		}
		c.module, c.err = wasmhost.CompileFile(context.Background(), path)
	})
	if c.err != nil {
		t.Fatalf("module %s: %v", pkg, c.err)
	}
	return c.module
}

// LogRecorder collects a plugin's log lines as "[level] message".
type LogRecorder struct {
	mu    sync.Mutex
	lines []string
}

// Log is a wasmhost.Logger.
func (r *LogRecorder) Log(level wasmhost.LogLevel, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, "["+level.String()+"] "+msg)
}

// Lines returns a copy of the lines so far.
func (r *LogRecorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// Find returns the first line containing substr.
func (r *LogRecorder) Find(substr string) (string, bool) {
	for _, l := range r.Lines() {
		if strings.Contains(l, substr) {
			return l, true
		}
	}
	return "", false
}

// Count is how many lines contain substr.
func (r *LogRecorder) Count(substr string) int {
	n := 0
	for _, l := range r.Lines() {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// Reset forgets the lines so far.
func (r *LogRecorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = nil
}
