package envoy

import (
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/meshwaf/meshwaf/e2e/internal/plugin"
	"github.com/meshwaf/meshwaf/wasmplugin"
)

func TestBootstraps(t *testing.T) {
	for _, file := range Files {
		t.Run(file, func(t *testing.T) {
			b, err := Load(file)
			if err != nil {
				t.Fatalf("parsing with Envoy's API (unknown fields rejected): %v", err)
			}
			if err := Validate(b); err != nil {
				t.Fatalf("ValidateAll: %v", err)
			}
			checkAdminAndStats(t, b)
			filters, err := WasmFilters(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(filters) != 1 {
				t.Fatalf("want one envoy.filters.http.wasm, found %d", len(filters))
			}
			w := filters[0]
			vm := w.Filter.GetConfig().GetVmConfig()
			if vm.GetRuntime() != "envoy.wasm.runtime.v8" {
				t.Errorf("%s: runtime %q, want envoy.wasm.runtime.v8", w.Path, vm.GetRuntime())
			}
			if remote := vm.GetCode().GetRemote(); remote != nil {
				if sum, err := hex.DecodeString(remote.GetSha256()); err != nil || len(sum) != 32 {
					t.Errorf("%s: remote sha256 %q is not 64 hex digits", w.Path, remote.GetSha256())
				}
				if !hasCluster(b, remote.GetHttpUri().GetCluster()) {
					t.Errorf("%s: remote http_uri names cluster %q, which the bootstrap lacks", w.Path, remote.GetHttpUri().GetCluster())
				}
			} else if vm.GetCode().GetLocal().GetFilename() == "" {
				t.Errorf("%s: want the module from a local file or a remote source", w.Path)
			}
			cfg, err := w.PluginConfiguration()
			if err != nil {
				t.Fatalf("%s: %v", w.Path, err)
			}
			plugin.CheckConfig(t, file, cfg)
		})
	}
}

func checkAdminAndStats(t *testing.T, b *bootstrapv3.Bootstrap) {
	t.Helper()
	if b.GetAdmin().GetAddress().GetSocketAddress().GetPortValue() == 0 {
		t.Error("no admin endpoint")
	}
	var got []wasmplugin.StatsTag
	for _, tag := range b.GetStatsConfig().GetStatsTags() {
		got = append(got, wasmplugin.StatsTag{TagName: tag.GetTagName(), Regex: tag.GetRegex()})
	}
	want := wasmplugin.StatsTags(nil)
	if len(got) != len(want) {
		t.Fatalf("stats_tags: got %d, want wasmplugin/statstags.json's %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("stats_tags[%d] = %+v, want %+v (wasmplugin/statstags.json)", i, got[i], want[i])
		}
	}
	for _, l := range b.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				if !bytes.Contains(f.GetTypedConfig().GetValue(), []byte("envoy.access_loggers")) {
					t.Errorf("listener %s: filter %s has no access log", l.GetName(), f.GetName())
				}
			}
		}
	}
}

func hasCluster(b *bootstrapv3.Bootstrap, name string) bool {
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() == name {
			return true
		}
	}
	return false
}

// The checks must be able to fail: a typo, an unknown @type, a value ValidateAll refuses,
// and a plugin configuration the plugin refuses.
func TestBootstrapMistakesAreCaught(t *testing.T) {
	orig, err := os.ReadFile("envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(t *testing.T, old, new string) []byte {
		t.Helper()
		if !bytes.Contains(orig, []byte(old)) {
			t.Fatalf("envoy.yaml no longer contains %q", old)
		}
		return bytes.Replace(orig, []byte(old), []byte(new), 1)
	}
	t.Run("typo_in_key_rejected", func(t *testing.T) {
		if _, err := Parse(edit(t, "root_id: meshwaf", "rootid_: meshwaf")); err == nil {
			t.Error("a misspelt key parsed")
		}
	})
	t.Run("unknown_type_rejected", func(t *testing.T) {
		if _, err := Parse(edit(t, "filters.http.wasm.v3.Wasm", "filters.http.wasm.v3.Wasmm")); err == nil {
			t.Error("an unknown @type parsed")
		}
	})
	t.Run("invalid_value_in_typed_config_rejected", func(t *testing.T) {
		b, err := Parse(edit(t, "stat_prefix: ingress_http", `stat_prefix: ""`))
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(b); err == nil || !strings.Contains(err.Error(), "StatPrefix") {
			t.Errorf("an empty stat_prefix inside the HttpConnectionManager's Any passed: %v", err)
		}
	})
	t.Run("refused_plugin_config_detected", func(t *testing.T) {
		b, err := Parse(edit(t, `"SecRuleEngine On"`, `"SecRuleEngin On"`))
		if err != nil {
			t.Fatal(err)
		}
		filters, err := WasmFilters(b)
		if err != nil || len(filters) != 1 {
			t.Fatalf("wasm filters: %v, %d", err, len(filters))
		}
		cfg, err := filters[0].PluginConfiguration()
		if err != nil {
			t.Fatal(err)
		}
		if err := plugin.Accepts(t, cfg); err == nil {
			t.Error("the plugin accepted SecRuleEngin")
		}
	})
}
