package wasmplugin

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParseConfigAccepts(t *testing.T) {
	tests := []struct {
		name     string
		json     string
		check    func(t *testing.T, c *Config)
		warnings []string
	}{
		{
			name: "directives_map_with_default_and_authorities",
			json: `{"directives_map":{"a":["SecRuleEngine On"],"b":[]},"default_directives":"a",
				"per_authority_directives":{"API.example.com":"b","*.internal":"a"},"metric_labels":{"owner":"team-a"}}`,
			check: func(t *testing.T, c *Config) {
				if c.Default != "a" || c.Authorities["api.example.com"] != "b" || c.Authorities["*.internal"] != "a" {
					t.Fatalf("got %+v", c)
				}
				if c.MetricLabels["owner"] != "team-a" {
					t.Fatalf("labels %v", c.MetricLabels)
				}
			},
		},
		{
			name: "deprecated_rules_become_the_default_set",
			json: `{"rules":["SecRuleEngine On"]}`,
			check: func(t *testing.T, c *Config) {
				if c.Default != "default" || len(c.DirectiveSets["default"]) != 1 {
					t.Fatalf("got %+v", c)
				}
			},
			warnings: []string{`"rules" is deprecated`},
		},
		{
			name:     "deprecated_rules_ignored_next_to_directives_map",
			json:     `{"directives_map":{"a":[]},"default_directives":"a","rules":["x"]}`,
			warnings: []string{`"rules" is deprecated and ignored`},
		},
		{
			name:     "unknown_key_warns_with_its_name",
			json:     `{"directives_map":{"a":[]},"default_directives":"a","directive_map":{}}`,
			warnings: []string{`unknown configuration key "directive_map"`},
		},
		{
			name: "failure_mode_defaults_to_closed",
			json: `{"directives_map":{"a":[]},"default_directives":"a"}`,
			check: func(t *testing.T, c *Config) {
				if c.FailureMode != FailClosed {
					t.Fatalf("failure mode %q, want %q", c.FailureMode, FailClosed)
				}
			},
		},
		{
			name: "failure_mode_open",
			json: `{"directives_map":{"a":[]},"default_directives":"a","failure_mode":"open"}`,
			check: func(t *testing.T, c *Config) {
				if c.FailureMode != FailOpen {
					t.Fatalf("failure mode %q, want %q", c.FailureMode, FailOpen)
				}
			},
		},
		{
			name: "failure_mode_null_is_the_default",
			json: `{"directives_map":{"a":[]},"default_directives":"a","failure_mode":null}`,
			check: func(t *testing.T, c *Config) {
				if c.FailureMode != FailClosed {
					t.Fatalf("failure mode %q, want %q", c.FailureMode, FailClosed)
				}
			},
		},
		{
			name:     "no_default_warns",
			json:     `{"directives_map":{"a":[]},"per_authority_directives":{"x":"a"}}`,
			warnings: []string{`no "default_directives"`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseConfig([]byte(tc.json))
			if err != nil {
				t.Fatalf("ParseConfig: %v", err)
			}
			if tc.check != nil {
				tc.check(t, c)
			}
			for _, w := range tc.warnings {
				if !slices.ContainsFunc(c.Warnings, func(s string) bool { return strings.Contains(s, w) }) {
					t.Errorf("warnings %q lack %q", c.Warnings, w)
				}
			}
		})
	}
}

func TestParseConfigRefuses(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"empty_configuration", ``, "configuration: plugin configuration is empty"},
		{"invalid_json", `{"directives_map":`, "configuration: invalid JSON"},
		{"not_an_object", `[1]`, "configuration: invalid JSON"},
		{"empty_map", `{"directives_map":{}}`, "directives_map: no directive sets"},
		{"no_map_at_all", `{"default_directives":"a"}`, "directives_map: no directive sets"},
		{"map_wrong_type", `{"directives_map":{"a":"SecRuleEngine On"}}`, "directives_map: want an object of directive-set name to list of directive strings, got a JSON string"},
		{"default_wrong_type", `{"directives_map":{"a":[]},"default_directives":["a"]}`, "default_directives: want a string"},
		{"unknown_default", `{"directives_map":{"a":[]},"default_directives":"b"}`, `default_directives: "b" names no entry of directives_map`},
		{"unknown_authority_target", `{"directives_map":{"a":[]},"per_authority_directives":{"x.com":"b"}}`, `per_authority_directives["x.com"]: "b" names no entry of directives_map`},
		{"bad_wildcard", `{"directives_map":{"a":[]},"per_authority_directives":{"x.*.com":"a"}}`, `per_authority_directives["x.*.com"]: authority "x.*.com": a wildcard`},
		{"labels_wrong_type", `{"directives_map":{"a":[]},"metric_labels":{"a":1}}`, "metric_labels: want an object of string to string, got a JSON number"},
		{"reserved_label", `{"directives_map":{"a":[]},"metric_labels":{"authority":"x"}}`, `metric_labels["authority"]: label "authority" is a tag meshwaf sets itself`},
		{"labels_clash_after_sanitising", `{"directives_map":{"a":[]},"metric_labels":{"Team":"a","team":"b"}}`, `metric_labels["team"]: labels "Team" and "team" both become the tag "team"`},
		{"labels_clash_punctuation", `{"directives_map":{"a":[]},"metric_labels":{"app.name":"a","app_name":"b"}}`, `metric_labels["app_name"]: labels "app.name" and "app_name" both become the tag "appname"`},
		{"label_ends_a_reserved_tag", `{"directives_map":{"a":[]},"metric_labels":{"id":"x"}}`, `metric_labels["id"]: the tag "id" ends the tag "ruleid", so Envoy's and Istio's tag extraction would read one out of the other: rename "id"`},
		{"reserved_tag_ends_a_label", `{"directives_map":{"a":[]},"metric_labels":{"errormode":"x"}}`, `metric_labels["errormode"]: the tag "mode" ends the tag "errormode"`},
		{"label_ends_a_label", `{"directives_map":{"a":[]},"metric_labels":{"app":"x","webapp":"y"}}`, `metric_labels["app"]: the tag "app" ends the tag "webapp"`},
		{"rules_wrong_type", `{"rules":"SecRuleEngine On"}`, "rules: want a list of directive strings"},
		{"failure_mode_unknown", `{"directives_map":{"a":[]},"failure_mode":"fail_open"}`, `failure_mode: "fail_open" is not a failure mode: want "closed" (the default) or "open"`},
		{"failure_mode_case_matters", `{"directives_map":{"a":[]},"failure_mode":"Open"}`, `failure_mode: "Open" is not a failure mode`},
		{"failure_mode_wrong_type", `{"directives_map":{"a":[]},"failure_mode":false}`, `failure_mode: want the string "closed" or "open", got a JSON bool`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.json))
			if err == nil {
				t.Fatal("accepted")
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is no *ConfigError: %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error\n  %v\nwant prefix\n  %s", err, tc.want)
			}
		})
	}
}

func TestRouterOrder(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"directives_map":{"exact":[],"host":[],"wild":[],"deep":[],"def":[]},
		"default_directives":"def",
		"per_authority_directives":{"a.example.com:8443":"exact","a.example.com":"host","*.example.com":"wild","*.b.example.com":"deep","[::1]":"host"}}`))
	if err != nil {
		t.Fatal(err)
	}
	r := newRouter(cfg)
	// entry is the metrics' authority label: always a configured key or "default", never the
	// client's own value.
	tests := []struct{ authority, want, entry string }{
		{"a.example.com:8443", "exact", "a.example.com:8443"},
		{"A.Example.com:8443", "exact", "a.example.com:8443"},
		{"a.example.com:8080", "host", "a.example.com"},
		{"a.example.com", "host", "a.example.com"},
		{"x.example.com", "wild", "*.example.com"},
		{"x.example.com:9000", "wild", "*.example.com"},
		{"c.b.example.com", "deep", "*.b.example.com"},
		{"example.com", "def", "default"},
		{"other.org", "def", "default"},
		{"random-1234.attacker.test", "def", "default"},
		{"[::1]:8080", "host", "[::1]"},
	}
	for _, tc := range tests {
		t.Run(tc.authority, func(t *testing.T) {
			if got, entry, ok := r.route(tc.authority); !ok || got != tc.want || entry != tc.entry {
				t.Fatalf("route(%q) = %q, %q, %t; want %q, %q", tc.authority, got, entry, ok, tc.want, tc.entry)
			}
		})
	}
}

func TestRouterWithoutDefaultPasses(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"directives_map":{"a":[]},"per_authority_directives":{"x.com":"a"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if set, _, ok := newRouter(cfg).route("y.com"); ok {
		t.Fatalf("route(y.com) = %q, want none", set)
	}
}

func TestParseConfigReportsEveryError(t *testing.T) {
	_, err := ParseConfig([]byte(`{"directives_map":{"a":[]},"default_directives":"b",
		"per_authority_directives":{"x.com":"c","y.*.com":"a"},"metric_labels":{"phase":"x"}}`))
	want := []string{
		`default_directives: "b" names no entry`,
		`per_authority_directives["x.com"]: "c" names no entry`,
		`per_authority_directives["y.*.com"]: authority "y.*.com": a wildcard`,
		`metric_labels["phase"]: label "phase" is a tag meshwaf sets itself`,
	}
	errs := splitErrors(err)
	if len(errs) != len(want) {
		t.Fatalf("%d errors, want %d: %v", len(errs), len(want), err)
	}
	for i, w := range want {
		var ce *ConfigError
		if !errors.As(errs[i], &ce) || !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("error %d = %v, want a *ConfigError starting %q", i, errs[i], w)
		}
	}
}

func TestParseConfigBadMapReportedOnce(t *testing.T) {
	// A wrong directives_map is not repeated as "names no entry" for every reference to it.
	_, err := ParseConfig([]byte(`{"directives_map":{"a":"SecRuleEngine On"},"default_directives":"a","per_authority_directives":{"x":"a"}}`))
	if errs := splitErrors(err); len(errs) != 1 {
		t.Fatalf("errors %q, want only the directives_map one", errs)
	}
}
