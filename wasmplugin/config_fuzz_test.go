package wasmplugin

import (
	"errors"
	"testing"
)

// FuzzParseConfig checks that any input either yields a configuration whose references all
// resolve, or a *ConfigError; never a panic.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		`{"directives_map":{"a":["SecRuleEngine On"]},"default_directives":"a"}`,
		`{"rules":["Include @demo-conf"]}`,
		`{"directives_map":{"a":[]},"per_authority_directives":{"*.x":"a","y:80":"a"},"metric_labels":{"k":"v"}}`,
		`{"directives_map":{"a":[]},"default_directives":7}`,
		`{"directives_map":{"a":[]},"failure_mode":"open"}`,
		`{"directives_map":{"a":[]},"failure_mode":"sideways"}`,
		``, `null`, `[]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is no *ConfigError: %v", err, err)
			}
			return
		}
		if cfg.FailureMode != FailClosed && cfg.FailureMode != FailOpen {
			t.Fatalf("accepted failure mode %q", cfg.FailureMode)
		}
		if len(cfg.DirectiveSets) == 0 {
			t.Fatal("accepted a configuration without directive sets")
		}
		if _, ok := cfg.DirectiveSets[cfg.Default]; cfg.Default != "" && !ok {
			t.Fatalf("default %q not in the map", cfg.Default)
		}
		for a, set := range cfg.Authorities {
			if _, ok := cfg.DirectiveSets[set]; !ok {
				t.Fatalf("authority %q names missing set %q", a, set)
			}
		}
		newRouter(cfg).route("example.com:80")
	})
}
