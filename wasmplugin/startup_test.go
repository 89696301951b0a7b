//go:build !wasip1

package wasmplugin_test

import (
	"slices"
	"strings"
	"testing"
)

// TestConfigurationWarningsAtStartup drives the compiled module: a configuration with
// something odd but usable starts, logs exactly its warnings at warn, naming the key, and
// serves requests as the warning says.
func TestConfigurationWarningsAtStartup(t *testing.T) {
	deny := func(header string) string {
		return `SecRule REQUEST_HEADERS:` + header + ` "@streq yes" "id:9001,phase:1,deny,status:403,log,msg:'denied'"`
	}
	type exchange struct {
		authority, header string
		status            int
	}
	tests := []struct {
		name      string
		config    map[string]any
		warnings  []string
		exchanges []exchange
	}{
		{"unknown_key_named_and_ignored",
			map[string]any{"directives_map": map[string][]string{"t": {"SecRuleEngine On", deny("X-Deny")}}, "default_directives": "t",
				"metrics_labels": map[string]string{"team": "a"}},
			[]string{`[warn] meshwaf: unknown configuration key "metrics_labels" ignored`},
			[]exchange{{"app.test", "x-deny", 403}, {"app.test", "", 200}}},
		{"deprecated_rules_used_as_default_set",
			map[string]any{"rules": []string{"SecRuleEngine On", deny("X-Deny")}},
			[]string{`[warn] meshwaf: "rules" is deprecated: use "directives_map" and "default_directives"`},
			[]exchange{{"any.test", "x-deny", 403}, {"other.test:8080", "x-deny", 403}, {"any.test", "", 200}}},
		{"deprecated_rules_ignored_beside_directives_map",
			map[string]any{"rules": []string{"SecRuleEngine On", deny("X-Rules")},
				"directives_map": map[string][]string{"t": {"SecRuleEngine On", deny("X-Deny")}}, "default_directives": "t"},
			[]string{`[warn] meshwaf: "rules" is deprecated and ignored when "directives_map" is set`},
			[]exchange{{"app.test", "x-rules", 200}, {"app.test", "x-deny", 403}}},
		{"no_default_set_passes_other_authorities",
			map[string]any{"directives_map": map[string][]string{"t": {"SecRuleEngine On", deny("X-Deny")}},
				"per_authority_directives": map[string]string{"api.test": "t"}},
			[]string{`[warn] meshwaf: no "default_directives": requests for authorities not in "per_authority_directives" pass uninspected`},
			[]exchange{{"api.test", "x-deny", 403}, {"other.test", "x-deny", 200}}},
		{"deprecated_include_named_with_its_replacement",
			map[string]any{"directives_map": map[string][]string{"t": {"Include @crs-setup-demo-conf", "SecRuleEngine On", deny("X-Deny")}},
				"default_directives": "t"},
			[]string{`[warn] meshwaf: directives_map["t"] line 1: include @crs-setup-demo-conf is deprecated, use @crs-setup-conf`},
			[]exchange{{"app.test", "x-deny", 403}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, logs := newPlugin(t, tc.config)
			var warns []string
			for _, l := range logs.Lines() {
				if strings.HasPrefix(l, "[warn]") {
					warns = append(warns, l)
				}
			}
			if !slices.Equal(warns, tc.warnings) {
				t.Errorf("warnings\n%q\nwant\n%q", warns, tc.warnings)
			}
			if n := logs.Count("[info] meshwaf: started with 1 directive set(s)"); n != 1 {
				t.Errorf("%d start lines for one set, want 1: %q", n, logs.Lines())
			}
			for _, x := range tc.exchanges {
				var h [][2]string
				if x.header != "" {
					h = [][2]string{{x.header, "yes"}}
				}
				if got := drive(t, p, request{authority: x.authority, headers: h}).status(); got != x.status {
					t.Errorf("%s with %q: status %d, want %d", x.authority, x.header, got, x.status)
				}
			}
		})
	}
}
