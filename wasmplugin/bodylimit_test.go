package wasmplugin

import (
	"testing"
	"testing/fstest"

	"github.com/meshwaf/meshwaf/rules"
)

func TestScanRequestBodyLimits(t *testing.T) {
	root := fstest.MapFS{
		"base.conf":  {Data: []byte("# comment\nSecRequestBodyLimit 1000\nSecRequestBodyInMemoryLimit \\\n  100\n")},
		"inc/a.conf": {Data: []byte("SecRequestBodyLimit 2000\n")},
		"inc/b.conf": {Data: []byte("SecRuleEngine On\nSecResponseBodyLimit 300\n")},
		"loop.conf":  {Data: []byte("Include loop.conf\n")},
	}
	for _, tc := range []struct {
		name    string
		lines   []string
		want    requestBodyLimits
		wantErr bool
	}{
		{"coraza_default_without_directives", []string{"SecRuleEngine On"}, requestBodyLimits{limit: corazaDefaultRequestBodyLimit, response: corazaDefaultResponseBodyLimit}, false},
		{"values_from_included_file_with_continuation", []string{"Include base.conf"}, requestBodyLimits{limit: 1000, inMemory: 100, response: corazaDefaultResponseBodyLimit}, false},
		{"last_value_wins_across_glob_include", []string{"Include base.conf", "Include inc/*.conf"}, requestBodyLimits{limit: 2000, inMemory: 100, response: 300}, false},
		{"set_after_include_overrides_it", []string{"Include base.conf", "SecRequestBodyLimit 5000"}, requestBodyLimits{limit: 5000, inMemory: 100, response: corazaDefaultResponseBodyLimit}, false},
		{"include_cycle_is_an_error", []string{"Include loop.conf"}, requestBodyLimits{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanRequestBodyLimits(tc.lines, root)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// The recommended configuration keeps Coraza's 128 KiB in-memory limit under a 12.5 MiB body
// limit: exactly the case the plugin must raise.
func TestRecommendedConfLimits(t *testing.T) {
	got, err := scanRequestBodyLimits([]string{"Include @recommended-conf"}, rules.FS())
	if err != nil {
		t.Fatal(err)
	}
	if got.limit != 13107200 || got.inMemory != 131072 {
		t.Fatalf("@recommended-conf limits = %+v, want body 13107200 and in-memory 131072", got)
	}
}
