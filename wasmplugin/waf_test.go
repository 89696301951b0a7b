package wasmplugin

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/internal/abi"
)

type logRecorder struct{ lines []string }

func (r *logRecorder) sink(level abi.LogLevel, msg string) {
	r.lines = append(r.lines, level.String()+" "+msg)
}

func (r *logRecorder) contains(s string) bool {
	for _, l := range r.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

func TestConfigureRefusesBadDirectives(t *testing.T) {
	tests := []struct {
		name, json string
		want       []string
	}{
		{
			name: "unknown_directive_names_set_line_and_directive",
			json: `{"directives_map":{"api":["SecRuleEngine On","SecRequestBodyAccess On","SecRuleEngin On"]},"default_directives":"api"}`,
			want: []string{`directives_map["api"] line 3 (SecRuleEngin)`, `unknown directive "secruleengin"`},
		},
		{
			name: "bad_rule_syntax",
			json: `{"directives_map":{"a":["SecRuleEngine On","SecRule ARGS \"@rx (\" \"id:1,phase:1,deny\""]},"default_directives":"a"}`,
			want: []string{`directives_map["a"] line 2 (SecRule)`},
		},
		{
			name: "missing_include",
			json: `{"directives_map":{"a":["Include @recommended-conf","Include @nope-conf"]},"default_directives":"a"}`,
			want: []string{`directives_map["a"] line 2 (Include @nope-conf): not found in the embedded rules`},
		},
		{
			name: "glob_matching_nothing",
			json: `{"directives_map":{"a":["Include @owasp_crs/NOPE-*.conf"]},"default_directives":"a"}`,
			want: []string{`directives_map["a"] line 1 (Include @owasp_crs/NOPE-*.conf): pattern matches nothing`},
		},
		{
			name: "duplicate_rule_id",
			json: `{"directives_map":{"a":["SecRule ARGS \"@rx x\" \"id:1,phase:1,deny\"","SecRule ARGS \"@rx y\" \"id:1,phase:1,deny\""]},"default_directives":"a"}`,
			want: []string{`directives_map["a"] line 2 (SecRule)`},
		},
		{
			name: "debug_log_to_a_file",
			json: `{"directives_map":{"a":["SecRuleEngine On","SecDebugLog /var/log/coraza.log"]},"default_directives":"a"}`,
			want: []string{`directives_map["a"] line 2 (SecDebugLog): /var/log/coraza.log: a Wasm module has no file system: use SecDebugLog /dev/stdout`},
		},
		{
			name: "audit_log_https",
			json: `{"directives_map":{"a":["SecAuditEngine On","SecAuditLogType HTTPS","SecAuditLog https://logs.example.com/"]},"default_directives":"a"}`,
			want: []string{`directives_map["a"] line 2 (SecAuditLogType)`, `SecAuditLogType HTTPS cannot work in a Wasm module: it has no network access; use SecAuditLogType Proxy`},
		},
		{
			name: "audit_log_syslog",
			json: `{"directives_map":{"a":["SecAuditEngine On","SecAuditLogType Syslog"]},"default_directives":"a"}`,
			want: []string{`directives_map["a"] line 2 (SecAuditLogType)`, `SecAuditLogType Syslog cannot work in a Wasm module`},
		},
		{
			name: "invalid_json",
			json: `{`,
			want: []string{`configuration: invalid JSON`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec logRecorder
			p := &plugin{sink: rec.sink}
			err := p.configure([]byte(tc.json))
			if err == nil {
				t.Fatal("configuration accepted")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("%T: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestConfigureReportsEveryBadSet(t *testing.T) {
	p := &plugin{sink: (&logRecorder{}).sink}
	err := p.configure([]byte(`{"directives_map":{
		"a":["SecRuleEngine On","SecRuleEngin On"],
		"b":["Include @nope-conf"],
		"c":["SecRuleEngine On"],
		"d":["SecRule ARGS \"@rx (\" \"id:1,phase:1,deny\""]},"default_directives":"c"}`))
	want := []string{
		`directives_map["a"] line 2 (SecRuleEngin)`,
		`directives_map["b"] line 1 (Include @nope-conf)`,
		`directives_map["d"] line 1 (SecRule)`,
	}
	errs := splitErrors(err)
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(errs), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, errs[i], w)
		}
	}
}

func TestStatsTagsLoggedAsJSON(t *testing.T) {
	var rec logRecorder
	p := &plugin{sink: rec.sink}
	if err := p.configure([]byte(`{"directives_map":{"a":[]},"default_directives":"a","metric_labels":{"mesh":"prod"}}`)); err != nil {
		t.Fatal(err)
	}
	const istio = "info meshwaf: on Istio, the same as the proxy's extraStatTags: ruleid, phase, authority, category, mode, mesh"
	if !slices.Contains(rec.lines, istio) {
		t.Errorf("no line %q in %q", istio, rec.lines)
	}
	const prefix = "info meshwaf: metric_labels need these Envoy stats_tags: "
	for _, l := range rec.lines {
		rest, ok := strings.CutPrefix(l, prefix)
		if !ok {
			continue
		}
		var tags []StatsTag
		if err := json.Unmarshal([]byte(rest), &tags); err != nil {
			t.Fatalf("stats_tags line is not JSON: %v\n%s", err, rest)
		}
		if want := StatsTags(map[string]string{"mesh": "prod"}); !slices.Equal(tags, want) {
			t.Fatalf("stats_tags %v, want %v", tags, want)
		}
		return
	}
	t.Fatalf("no stats_tags line in %q", rec.lines)
}

func TestDebugLogToStdoutAccepted(t *testing.T) {
	p := &plugin{sink: (&logRecorder{}).sink}
	if err := p.configure([]byte(`{"directives_map":{"a":["SecDebugLog /dev/stdout","SecDebugLog \"/dev/stderr\"","SecDebugLogLevel 3"]},"default_directives":"a"}`)); err != nil {
		t.Fatal(err)
	}
}

func TestConfigureBuildsCRSOncePerSet(t *testing.T) {
	var rec logRecorder
	p := &plugin{sink: rec.sink}
	err := p.configure([]byte(`{"directives_map":{
		"crs":["Include @recommended-conf","SecRuleEngine On","Include @crs-setup-demo-conf","Include @owasp_crs/*.conf"],
		"none":[]},
		"default_directives":"crs","per_authority_directives":{"a":"crs","b":"crs","c":"none"},"extra":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.wafs) != 2 {
		t.Fatalf("%d WAFs", len(p.wafs))
	}
	wafFor := func(a string) *wafSet { w, _ := p.wafFor(a); return w }
	if wafFor("a") != wafFor("b") || wafFor("a") != wafFor("zzz") {
		t.Fatal("authorities naming one set do not share its WAF")
	}
	for _, w := range []string{`unknown configuration key "extra"`, `include @crs-setup-demo-conf is deprecated, use @crs-setup-conf`} {
		if !rec.contains(w) {
			t.Errorf("log lacks %q: %q", w, rec.lines)
		}
	}
}
