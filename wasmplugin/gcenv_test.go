//go:build !wasip1

package wasmplugin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmtest"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// TestGCSettingsFollowVMEnvironment: GOGC and GOMEMLIMIT in the VM's environment (Envoy's
// vm_config.environment_variables) reach the Go runtime and are not overridden by the
// plugin's own targets; the start log reads the settings back from the runtime; a GOGC the
// runtime would silently replace by 100 is refused by name, and a bad GOMEMLIMIT stops the VM
// with the runtime's own message.
func TestGCSettingsFollowVMEnvironment(t *testing.T) {
	m := wafModule(t)
	config := []byte(`{"directives_map":{"a":["SecRuleEngine On"]},"default_directives":"a"}`)
	tests := []struct {
		name string
		env  [][2]string
		want string // in the start log line, or in the refusal
		fail bool
	}{
		{"default", nil, "Go GC target 50% (meshwaf's default; GOGC in the VM environment overrides it), no memory limit", false},
		{"gogc", [][2]string{{"GOGC", "200"}}, "Go GC target 200% (GOGC=200 from the VM environment), no memory limit", false},
		{"gogc_off_memlimit", [][2]string{{"GOGC", "off"}, {"GOMEMLIMIT", "40MiB"}}, "Go GC target off (GOGC=off from the VM environment), memory limit 40.0 MiB (GOMEMLIMIT)", false},
		{"memlimit_only", [][2]string{{"GOMEMLIMIT", "64MiB"}}, "Go GC target 50% (meshwaf's default; GOGC in the VM environment overrides it), memory limit 64.0 MiB (GOMEMLIMIT)", false},
		{"gogc_empty_is_unset", [][2]string{{"GOGC", ""}}, "Go GC target 50% (meshwaf's default; GOGC in the VM environment overrides it)", false},
		{"gogc_negative_is_off", [][2]string{{"GOGC", "-1"}}, "Go GC target off (GOGC=-1 from the VM environment)", false},
		{"gogc_off_alone_warns", [][2]string{{"GOGC", "off"}}, "[warn] meshwaf: GOGC=off without GOMEMLIMIT in the VM environment: the heap is never collected", false},
		{"gogc_bad", [][2]string{{"GOGC", "fast"}}, `plugin configuration refused: GOGC="fast" in the VM environment: want a 32-bit integer percentage or "off"`, true},
		// The Go runtime reads GOMEMLIMIT before any plugin code runs, and refuses a bad one itself.
		{"memlimit_bad", [][2]string{{"GOMEMLIMIT", "lots"}}, "fatal error: malformed GOMEMLIMIT", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &wasmtest.LogRecorder{}
			opts := []wasmhost.PluginOption{wasmhost.WithPluginConfig(config), wasmhost.WithLogger(rec.Log)}
			for _, kv := range tc.env {
				opts = append(opts, wasmhost.WithEnv(kv[0], kv[1]))
			}
			p, err := m.NewPlugin(context.Background(), opts...)
			if tc.fail {
				if err == nil {
					p.Close(context.Background())
					t.Fatal("plugin started")
				}
				if line, ok := rec.Find(tc.want); !ok || !strings.HasPrefix(line, "[error]") {
					t.Fatalf("no error line with %q: %q", tc.want, rec.Lines())
				}
				return
			}
			if err != nil {
				t.Fatalf("NewPlugin: %v\n%s", err, strings.Join(rec.Lines(), "\n"))
			}
			defer p.Close(context.Background())
			if _, ok := rec.Find(tc.want); !ok {
				t.Fatalf("no start line with %q: %q", tc.want, rec.Lines())
			}
		})
	}
}

// TestGOGCErrorReportedWithConfigurationErrors: one start shows every mistake, the VM
// environment's and the configuration's.
func TestGOGCErrorReportedWithConfigurationErrors(t *testing.T) {
	m := wafModule(t)
	rec := &wasmtest.LogRecorder{}
	p, err := m.NewPlugin(context.Background(), wasmhost.WithPluginConfig([]byte(`{"directives_map":{}}`)),
		wasmhost.WithLogger(rec.Log), wasmhost.WithEnv("GOGC", "fast"))
	if err == nil {
		p.Close(context.Background())
		t.Fatal("plugin started")
	}
	for _, want := range []string{"directives_map: no directive sets", `GOGC="fast"`} {
		if _, ok := rec.Find(want); !ok {
			t.Errorf("no refusal line with %q: %q", want, rec.Lines())
		}
	}
}
