package runner

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshwaf/meshwaf/internal/wasmbuild"
)

func TestStartErrorsSayWhatToDo(t *testing.T) {
	dir := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	badJSON := filepath.Join(dir, "bad.json")
	os.WriteFile(badJSON, []byte(`{"directives_map": }`), 0o644)
	module := filepath.Join(dir, "m.wasm")
	os.WriteFile(module, []byte("not wasm"), 0o644)

	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"default_module_missing", Options{Module: DefaultModule, Listen: "127.0.0.1:0"}, "run `go run mage.go build` first"},
		{"module_missing", Options{Module: filepath.Join(dir, "none.wasm"), Listen: "127.0.0.1:0"}, "none.wasm not found"},
		{"module_is_a_directory", Options{Module: dir, Listen: "127.0.0.1:0"}, "is a directory"},
		{"port_busy", Options{Module: module, Listen: busy.Addr().String()}, "the port is in use"},
		{"config_not_json", Options{Module: module, Listen: "127.0.0.1:0", ConfigFile: badJSON}, "bad.json: line 1, column 20"},
		{"module_not_wasm", Options{Module: module, Listen: "127.0.0.1:0"}, "loading " + module},
		{"log_file_unwritable", Options{Module: module, Listen: "127.0.0.1:0", LogFile: filepath.Join(dir, "no", "dir", "x.log")}, "--log-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Start(context.Background(), tc.opts)
			if err == nil {
				s.Wait(canceled())
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestServeThroughPlugin runs the runner with the ABI test plugin (the WAF itself is tested
// in wasmplugin): requests pass through the plugin to the built-in echo upstream, local
// replies come back, and the plugin's log lands in --log-file.
func TestServeThroughPlugin(t *testing.T) {
	module := wasmbuild.ForTest(t, "github.com/meshwaf/meshwaf/internal/abitest/testplugin")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.json")
	os.WriteFile(cfg, []byte(`{"test": true}`), 0o644)
	logFile := filepath.Join(dir, "waf.log")
	os.WriteFile(logFile, []byte("earlier line\n"), 0o644)

	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Options{Listen: "127.0.0.1:0", Module: module, ConfigFile: cfg, LogFile: logFile, Workers: 2,
		VMEnv: [][2]string{{"ABITEST_ENV", "from --vm-env"}}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	if !strings.Contains(s.Upstream(), "built-in echo") {
		t.Errorf("upstream = %q, want the built-in echo server", s.Upstream())
	}
	base := "http://" + s.Addr()

	t.Run("request_passes_through_plugin_to_echo", func(t *testing.T) {
		req, _ := http.NewRequest("POST", base+"/things?id=1", strings.NewReader("payload"))
		req.Header.Set("X-Remove-Me", "secret")
		resp := do(t, req)
		if resp.StatusCode != 200 {
			t.Fatalf("status = %d, want 200", resp.StatusCode)
		}
		var echo Echo
		if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
			t.Fatal(err)
		}
		if echo.Method != "POST" || echo.Path != "/things?id=1" || echo.Body != "payload" {
			t.Errorf("echo = %+v", echo)
		}
		if got := echo.Headers["X-Abi-Path"]; len(got) != 1 || got[0] != "/things?id=1" {
			t.Errorf("upstream saw X-Abi-Path %q, want the plugin's header", got)
		}
		if _, ok := echo.Headers["X-Remove-Me"]; ok {
			t.Error("upstream saw X-Remove-Me, which the plugin removes")
		}
		if resp.Header.Get("X-Abi-Request-Count") == "" {
			t.Error("response lacks the plugin's X-Abi-Request-Count")
		}
	})

	t.Run("local_reply", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/", nil)
		req.Header.Set("X-Test-Action", "local-reply")
		resp := do(t, req)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 418 || string(body) != "teapot\n" {
			t.Errorf("got %d %q, want 418 teapot", resp.StatusCode, body)
		}
	})

	t.Run("log_file_appended_line_by_line", func(t *testing.T) {
		data, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		log := string(data)
		if !strings.HasPrefix(log, "earlier line\n") {
			t.Error("the log file was truncated, want appended")
		}
		for _, want := range []string{`[info] plugin started with configuration "{\"test\": true}"`, `[info] request /things?id=1 action=""`,
			`[info] VM environment has ABITEST_ENV="from --vm-env"`} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
		}
		if !strings.HasSuffix(log, "\n") {
			t.Error("last log line not terminated")
		}
	})
}

func TestValidate(t *testing.T) {
	module := wasmbuild.ForTest(t, "github.com/meshwaf/meshwaf/internal/abitest/testplugin")
	cfg := filepath.Join(t.TempDir(), "config.json")
	os.WriteFile(cfg, []byte(`{"ok": 1}`), 0o644)
	var out strings.Builder
	if err := Validate(context.Background(), Options{Module: module, ConfigFile: cfg}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "config.json: valid for") {
		t.Errorf("output = %q", out.String())
	}
}

func do(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// meshwaf validate on Istio manifests: each one is checked through the real module and named,
// and every mistake of a refused one is printed, not only the first.
func TestValidateIstioManifests(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds the full plugin (-short)")
	}
	module := wasmbuild.ForTest(t, "github.com/meshwaf/meshwaf")
	file := filepath.Join(t.TempDir(), "waf.yaml")
	os.WriteFile(file, []byte(`apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: {name: good}
spec:
  pluginConfig:
    directives_map: {a: ["SecRuleEngine On"]}
    default_directives: a
---
apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: bad}
spec:
  wasm:
    pluginConfig:
      directives_map:
        a: ["SecRuleEngin On"]
        b: ["SecRuleEngine On", "Include @nope-conf"]
      default_directives: a
`), 0o644)
	var out strings.Builder
	err := Validate(context.Background(), Options{Module: module, ConfigFile: file}, &out)
	if err == nil || !strings.Contains(err.Error(), "(TrafficExtension/bad) not valid") {
		t.Fatalf("err = %v, want TrafficExtension/bad refused; output:\n%s", err, out.String())
	}
	for _, want := range []string{
		"waf.yaml (WasmPlugin/good): valid for",
		`waf.yaml (TrafficExtension/bad): [error] meshwaf: plugin configuration refused: directives_map["a"] line 1 (SecRuleEngin)`,
		`waf.yaml (TrafficExtension/bad): [error] meshwaf: plugin configuration refused: directives_map["b"] line 2 (Include @nope-conf)`,
		"waf.yaml (TrafficExtension/bad): not valid for",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
