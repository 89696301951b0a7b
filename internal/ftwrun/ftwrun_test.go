package ftwrun

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    string
		check   func(Options) bool
		wantErr string
	}{
		{name: "defaults_run_local_runners", args: "",
			check: func(o Options) bool {
				return o.Module == "build/meshwaf.wasm" && o.Target == "" && o.Shards == 0 && o.ReportPath == "build/ftw-report.json"
			}},
		{name: "selection_and_shards", args: "--include ^920 --exclude ^9201 --shards 3 --dir crs/tests",
			check: func(o Options) bool {
				return o.Include == "^920" && o.Exclude == "^9201" && o.Shards == 3 && o.Dir == "crs/tests"
			}},
		{name: "external_target", args: "--target http://127.0.0.1:10000 --log-file envoy.log",
			check: func(o Options) bool { return o.Target == "http://127.0.0.1:10000" && o.LogFile == "envoy.log" }},
		{name: "target_needs_log", args: "--target http://127.0.0.1:10000", wantErr: "go together"},
		{name: "log_needs_target", args: "--log-file envoy.log", wantErr: "go together"},
		{name: "no_shards_for_target", args: "--target http://x:1 --log-file l --shards 2", wantErr: "--shards is for local runners"},
		{name: "negative_shards", args: "--shards -1", wantErr: "at least 1"},
		{name: "unknown_flag", args: "--jobs 2", wantErr: "not defined"},
		{name: "stray_argument", args: "tests/", wantErr: `unexpected argument "tests/"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseArgs(strings.Fields(tc.args))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(o) {
				t.Errorf("ParseArgs(%q) = %+v", tc.args, o)
			}
		})
	}
}

func TestPluginConfigLoadsFTWConfBeforeCRS(t *testing.T) {
	var c struct {
		DirectivesMap     map[string][]string `json:"directives_map"`
		DefaultDirectives string              `json:"default_directives"`
	}
	if err := json.Unmarshal([]byte(PluginConfig), &c); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(c.DirectivesMap[c.DefaultDirectives], "|")
	// @recommended-conf first (no body rule fires without SecRequestBodyAccess); @ftw-conf's
	// SecAction must run before REQUEST-901 fills in its defaults.
	want := "Include @recommended-conf|Include @crs-setup-conf|Include @ftw-conf|Include @owasp_crs/*.conf"
	if got != want {
		t.Errorf("directives %q, want %q", got, want)
	}
}
