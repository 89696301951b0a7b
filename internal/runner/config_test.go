package runner

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		want     Command
		wantErr  string
		notUsage bool
	}{
		{name: "defaults", args: nil, want: Command{Options: Options{
			Listen: "127.0.0.1:8080", Module: DefaultModule, Workers: 1}}},
		{name: "all_flags_double_dash", args: []string{"--listen", "0.0.0.0:9000", "--upstream", "http://localhost:3000",
			"--config", "c.json", "--module", "m.wasm", "--log-file", "waf.log", "--workers", "4"},
			want: Command{Options: Options{Listen: "0.0.0.0:9000", Upstream: "http://localhost:3000",
				ConfigFile: "c.json", Module: "m.wasm", LogFile: "waf.log", Workers: 4}}},
		{name: "validate_takes_the_file", args: []string{"validate", "--module", "m.wasm", "c.json"},
			want: Command{Validate: true, Options: Options{Listen: "127.0.0.1:8080", Module: "m.wasm", ConfigFile: "c.json", Workers: 1}}},
		{name: "validate_without_file", args: []string{"validate"}, wantErr: "validate takes one configuration file"},
		{name: "validate_two_files", args: []string{"validate", "--config", "a.json", "b.json"}, wantErr: "either as argument or as --config"},
		{name: "unknown_flag", args: []string{"--port", "80"}, wantErr: "flag provided but not defined: -port"},
		{name: "stray_argument", args: []string{"c.json"}, wantErr: `unexpected argument "c.json"`},
		{name: "listen_without_port", args: []string{"--listen", "localhost"}, wantErr: "--listen \"localhost\": want host:port"},
		{name: "upstream_without_scheme", args: []string{"--upstream", "localhost:3000"}, wantErr: "--upstream \"localhost:3000\": want http://"},
		{name: "upstream_wrong_scheme", args: []string{"--upstream", "ftp://x"}, wantErr: "want http://"},
		{name: "zero_workers", args: []string{"--workers", "0"}, wantErr: "--workers 0: need at least 1"},
		{name: "workers_not_a_number", args: []string{"--workers", "many"}, wantErr: "invalid value \"many\""},
		{name: "vm_env", args: []string{"--vm-env", "GOGC=100", "--vm-env", "GOMEMLIMIT=32MiB"},
			want: Command{Options: Options{Listen: "127.0.0.1:8080", Module: DefaultModule, Workers: 1,
				VMEnv: [][2]string{{"GOGC", "100"}, {"GOMEMLIMIT", "32MiB"}}}}},
		{name: "vm_env_without_value", args: []string{"--vm-env", "GOGC"}, wantErr: `invalid value "GOGC" for flag -vm-env: "GOGC": want KEY=VALUE`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseArgs(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if !errors.Is(err, ErrUsage) {
					t.Errorf("err = %v does not wrap ErrUsage", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Validate != tc.want.Validate || got.Options.Listen != tc.want.Options.Listen ||
				got.Options.Upstream != tc.want.Options.Upstream || got.Options.ConfigFile != tc.want.Options.ConfigFile ||
				got.Options.Module != tc.want.Options.Module || got.Options.LogFile != tc.want.Options.LogFile ||
				got.Options.Workers != tc.want.Options.Workers || !slices.Equal(got.Options.VMEnv, tc.want.Options.VMEnv) {
				t.Errorf("ParseArgs(%q) = %+v, want %+v", tc.args, got, tc.want)
			}
		})
	}
}

func TestParseArgsHelp(t *testing.T) {
	var out strings.Builder
	_, err := ParseArgs([]string{"-h"}, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{"meshwaf validate", "-listen", "-upstream", "-config", "-module", "-log-file", "-workers"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestLoadPluginConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, file, wantErr string
	}{
		{name: "default_is_full_crs", file: ""},
		{name: "object_accepted", file: write("ok.json", `{"directives_map": {"d": ["SecRuleEngine On"]}, "default_directives": "d"}`)},
		{name: "syntax_error_names_line_and_column", file: write("bad.json", "{\n  \"a\": [1,\n  \"b\" 2]\n}"), wantErr: "line 3, column 7"},
		{name: "array_is_not_a_configuration", file: write("array.json", `["SecRuleEngine On"]`), wantErr: "want a JSON object, found array"},
		{name: "null_is_not_a_configuration", file: write("null.json", `null`), wantErr: "found null"},
		{name: "empty_file", file: write("empty.json", ""), wantErr: "empty file"},
		{name: "trailing_data", file: write("two.json", "{}\n{}"), wantErr: "line 2, column 1: data after the JSON object"},
		{name: "missing_file", file: filepath.Join(dir, "nope.json"), wantErr: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{ConfigFile: tc.file}
			err := o.LoadPluginConfig()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(o.PluginConfig) == 0 {
					t.Error("no plugin configuration loaded")
				}
				if tc.file == "" && string(o.PluginConfig) != DefaultPluginConfig {
					t.Errorf("default configuration = %s", o.PluginConfig)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestDefaultPluginConfigIsCompatibleJSON(t *testing.T) {
	// The default must stay what a user of the Coraza proxy-wasm filter would write.
	if err := checkJSONObject([]byte(DefaultPluginConfig)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"directives_map"`, `"default_directives":"default"`, "Include @recommended-conf",
		"SecRuleEngine On", "Include @crs-setup-conf", "Include @owasp_crs/*.conf"} {
		if !strings.Contains(DefaultPluginConfig, want) {
			t.Errorf("default configuration lacks %s", want)
		}
	}
}

func TestReadPluginConfigs(t *testing.T) {
	const wasmPlugin = `apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata:
  name: waf
spec:
  url: oci://example.com/meshwaf:1
  pluginConfig:
    directives_map:
      crs:
        - Include @recommended-conf
        - SecRuleEngine On
    default_directives: crs
`
	const trafficExtension = `apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata:
  name: waf-waypoint
spec:
  wasm:
    url: oci://example.com/meshwaf:1
    pluginConfig:
      directives_map: {a: ["SecRuleEngine DetectionOnly"]}
      metric_labels: {team: shop}
`
	const service = `apiVersion: v1
kind: Service
metadata:
  name: web
`
	for _, tc := range []struct {
		name, data  string
		wantNames   []string
		wantJSON    []string
		wantSkipped []string
		wantErr     string
	}{
		{name: "json_object", data: `{"directives_map":{"a":[]}}`, wantNames: []string{""}, wantJSON: []string{`{"directives_map":{"a":[]}}`}},
		{name: "json_syntax_error_keeps_line_and_column", data: "{\n  \"a\" 1}", wantErr: "line 2, column 7"},
		{name: "wasmplugin_pluginconfig", data: wasmPlugin, wantNames: []string{"WasmPlugin/waf"},
			wantJSON: []string{`{"default_directives":"crs","directives_map":{"crs":["Include @recommended-conf","SecRuleEngine On"]}}`}},
		{name: "trafficextension_wasm_pluginconfig", data: trafficExtension, wantNames: []string{"TrafficExtension/waf-waypoint"},
			wantJSON: []string{`{"directives_map":{"a":["SecRuleEngine DetectionOnly"]},"metric_labels":{"team":"shop"}}`}},
		{name: "multi_document_each_named_others_skipped", data: "---\n" + wasmPlugin + "---\n" + service + "---\n" + trafficExtension,
			wantNames: []string{"WasmPlugin/waf", "TrafficExtension/waf-waypoint"}, wantSkipped: []string{"Service/web"}},
		{name: "plugin_manifest_without_pluginconfig", data: "kind: WasmPlugin\nmetadata: {name: x}\nspec: {url: oci://a/b}\n",
			wantErr: "WasmPlugin/x (document 1): no spec.pluginConfig"},
		{name: "pluginconfig_not_a_mapping", data: "kind: TrafficExtension\nmetadata: {name: x}\nspec: {wasm: {pluginConfig: [1]}}\n",
			wantErr: "spec.wasm.pluginConfig must be a mapping"},
		{name: "only_other_kinds", data: service, wantErr: "no WasmPlugin or TrafficExtension manifest (found Service/web)"},
		{name: "neither_json_nor_yaml_manifest", data: "a: [\n", wantErr: "neither a JSON object nor Istio manifests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			configs, skipped, err := readPluginConfigs([]byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(configs) != len(tc.wantNames) {
				t.Fatalf("%d configurations, want %d", len(configs), len(tc.wantNames))
			}
			for i, c := range configs {
				if c.Name != tc.wantNames[i] {
					t.Errorf("configuration %d named %q, want %q", i, c.Name, tc.wantNames[i])
				}
				if i < len(tc.wantJSON) && string(c.JSON) != tc.wantJSON[i] {
					t.Errorf("configuration %d = %s, want %s", i, c.JSON, tc.wantJSON[i])
				}
				if err := checkJSONObject(c.JSON); err != nil {
					t.Errorf("configuration %d is no JSON object: %v", i, err)
				}
			}
			if strings.Join(skipped, ",") != strings.Join(tc.wantSkipped, ",") {
				t.Errorf("skipped %q, want %q", skipped, tc.wantSkipped)
			}
		})
	}
}

func TestReserveSchedulerSlots(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	reserveSchedulerSlots(3)
	if got := runtime.GOMAXPROCS(0); got != 5 {
		t.Fatalf("GOMAXPROCS = %d with 3 workers, want 5", got)
	}
	reserveSchedulerSlots(1) // never lowered
	if got := runtime.GOMAXPROCS(0); got != 5 {
		t.Fatalf("GOMAXPROCS lowered to %d", got)
	}
}
