package runner

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmbuild"
)

// A configuration that is well-formed JSON but that the plugin refuses stops the runner
// before it serves: Start fails with the plugin's own message (key, set, line, directive), Main
// prints it and exits 1, and the port it had taken is free again.
func TestStartRefusedConfiguration(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds the full plugin (-short)")
	}
	module := wasmbuild.ForTest(t, "github.com/meshwaf/meshwaf")
	dir := t.TempDir()
	for _, tc := range []struct {
		name, config string
		// wantPlugin are the plugin's refusal lines, after "meshwaf: plugin configuration
		// refused: ".
		wantPlugin []string
	}{
		{
			name:       "unknown_directive_in_a_set",
			config:     `{"directives_map": {"crs": ["SecRuleEngine On"], "api": ["SecRuleEngine On", "SecRuleEngin On"]}, "default_directives": "crs"}`,
			wantPlugin: []string{`directives_map["api"] line 2 (SecRuleEngin): `},
		},
		{
			name:       "unknown_default_set",
			config:     `{"directives_map": {"crs": ["SecRuleEngine On"]}, "default_directives": "crs-typo"}`,
			wantPlugin: []string{`default_directives: "crs-typo" names no entry of directives_map`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := writeFile(t, dir, tc.name+".json", tc.config)
			addr := freeAddr(t)
			s, err := Start(context.Background(), Options{Listen: addr, Module: module, ConfigFile: cfg, Workers: 2,
				LogFile: filepath.Join(dir, tc.name+".log")})
			if err == nil {
				s.Wait(canceled())
				t.Fatal("Start accepted a configuration the plugin refuses")
			}
			if !strings.Contains(err.Error(), "\n  ") || errors.Unwrap(err) == nil {
				t.Errorf("Start: %v; want the plugin's lines, wrapping the host's error", err)
			}
			checkRefusal(t, err.Error(), cfg, tc.wantPlugin)
			checkFree(t, addr)

			var stdout, stderr strings.Builder
			got := Main([]string{"--module", module, "--config", cfg, "--listen", addr,
				"--log-file", filepath.Join(dir, tc.name+".log")}, &stdout, &stderr)
			if got != 1 {
				t.Errorf("Main = %d, want 1\nstderr:\n%s", got, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing (no serving line)", stdout.String())
			}
			checkRefusal(t, stderr.String(), cfg, tc.wantPlugin)
			checkFree(t, addr)
		})
	}
}

// checkRefusal fails unless msg names the configuration file and holds each of the plugin's
// refusal lines once, however many VMs logged it.
func checkRefusal(t *testing.T, msg, cfg string, wantPlugin []string) {
	t.Helper()
	if !strings.Contains(msg, "starting the plugin with "+cfg+" failed; the plugin logged:\n") {
		t.Errorf("error does not name the configuration %s:\n%s", cfg, msg)
	}
	for _, want := range wantPlugin {
		if n := strings.Count(msg, "\n  meshwaf: plugin configuration refused: "+want); n != 1 {
			t.Errorf("error holds the plugin's %q %d times, want once:\n%s", want, n, msg)
		}
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// checkFree fails if nothing can listen on addr: a failed start must not keep the port.
func checkFree(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("the port is still taken after the failed start: %v", err)
		return
	}
	ln.Close()
}
