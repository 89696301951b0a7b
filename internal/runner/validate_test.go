package runner

import (
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmbuild"
)

// meshwaf validate on a plain plugin configuration JSON file, through the real module: a
// refused file prints every mistake, each naming the file, the key and (for a directive set)
// the set, line and directive, and exits 1; an accepted one prints one "valid" line and exits 0.
func TestMainValidateJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds the full plugin (-short)")
	}
	module := wasmbuild.ForTest(t, "github.com/meshwaf/meshwaf")
	dir := t.TempDir()
	for _, tc := range []struct {
		name, config string
		want         int
		// wantRefused are the plugin's refusal lines, after "FILE: [error] meshwaf: plugin
		// configuration refused: "; each must be printed, and no other.
		wantRefused []string
	}{
		{
			name: "every_directive_set_error_with_key_set_line_directive",
			config: `{
  "directives_map": {
    "api": ["Include @recommended-conf", "SecRuleEngine On", "SecRule ARGS:id \"@streq 0\" \"id:101,phase:1,deny,stauts:403\""],
    "web": ["SecRuleEngin On"],
    "static": ["SecRuleEngine On", "Include @nope-conf"]
  },
  "default_directives": "api"
}`,
			want: 1,
			wantRefused: []string{
				`directives_map["api"] line 3 (SecRule): `,
				`directives_map["static"] line 2 (Include @nope-conf): `,
				`directives_map["web"] line 1 (SecRuleEngin): `,
			},
		},
		{
			name:   "every_key_error_with_its_key",
			config: `{"directives_map": {"a": ["SecRuleEngine On"]}, "default_directives": "b", "failure_mode": "fail_open"}`,
			want:   1,
			wantRefused: []string{
				`default_directives: "b" names no entry of directives_map`,
				`failure_mode: "fail_open" is not a failure mode`,
			},
		},
		{
			name:   "accepted_prints_one_valid_line",
			config: `{"directives_map": {"a": ["SecRuleEngine On"]}, "default_directives": "a"}`,
			want:   0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, dir, tc.name+".json", tc.config)
			var stdout, stderr strings.Builder
			got := Main([]string{"validate", "--module", module, file}, &stdout, &stderr)
			if got != tc.want {
				t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", got, tc.want, stdout.String(), stderr.String())
			}
			if tc.want == 0 {
				if want := file + ": valid for " + module + "\n"; stdout.String() != want || stderr.String() != "" {
					t.Errorf("stdout = %q, stderr = %q; want stdout %q and no stderr", stdout.String(), stderr.String(), want)
				}
				return
			}
			prefix := file + ": [error] meshwaf: plugin configuration refused: "
			var refused []string
			for line := range strings.SplitSeq(stdout.String(), "\n") {
				if rest, ok := strings.CutPrefix(line, prefix); ok {
					refused = append(refused, rest)
				}
			}
			if len(refused) != len(tc.wantRefused) {
				t.Errorf("%d refusal lines, want %d:\n%s", len(refused), len(tc.wantRefused), stdout.String())
			}
			for _, want := range tc.wantRefused {
				found := false
				for _, r := range refused {
					found = found || strings.HasPrefix(r, want)
				}
				if !found {
					t.Errorf("no refusal line starting %q:\n%s", want, stdout.String())
				}
			}
			if !strings.HasSuffix(stdout.String(), file+": not valid for "+module+"\n") {
				t.Errorf("stdout does not end with the file's verdict:\n%s", stdout.String())
			}
			if want := "meshwaf validate: " + file + " not valid for " + module; !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
			}
		})
	}
}
