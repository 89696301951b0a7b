package wasmplugin

import (
	"reflect"
	"strings"
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
		want    directiveFacts
		wantErr bool
	}{
		{"coraza_default_without_directives", []string{"SecRuleEngine On"}, directiveFacts{limit: corazaDefaultRequestBodyLimit, response: corazaDefaultResponseBodyLimit}, false},
		{"values_from_included_file_with_continuation", []string{"Include base.conf"}, directiveFacts{limit: 1000, inMemory: 100, response: corazaDefaultResponseBodyLimit}, false},
		{"last_value_wins_across_glob_include", []string{"Include base.conf", "Include inc/*.conf"}, directiveFacts{limit: 2000, inMemory: 100, response: 300}, false},
		{"set_after_include_overrides_it", []string{"Include base.conf", "SecRequestBodyLimit 5000"}, directiveFacts{limit: 5000, inMemory: 100, response: corazaDefaultResponseBodyLimit}, false},
		{"include_cycle_is_an_error", []string{"Include loop.conf"}, directiveFacts{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := scanDirectives(tc.lines, root)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			got.defaultActionPhases = nil // compared in TestMissingDefaultActions
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// The recommended configuration keeps Coraza's 128 KiB in-memory limit under a 12.5 MiB body
// limit: exactly the case the plugin must raise.
func TestRecommendedConfLimits(t *testing.T) {
	got, err := scanDirectives([]string{"Include @recommended-conf"}, rules.FS())
	if err != nil {
		t.Fatal(err)
	}
	if got.limit != 13107200 || got.inMemory != 131072 {
		t.Fatalf("@recommended-conf limits = %+v, want body 13107200 and in-memory 131072", got)
	}
}

func TestMissingDefaultActions(t *testing.T) {
	root := fstest.MapFS{
		"setup.conf": {Data: []byte("SecDefaultAction \"phase:1,log,auditlog,pass\"\nSecDefaultAction \"phase:2,log,auditlog,pass\"\n")},
		"resp.conf":  {Data: []byte("SecDefaultAction 'phase:response,log,auditlog,deny,status:403'\n")},
	}
	for _, tc := range []struct {
		name  string
		lines []string
		want  []string
	}{
		{"none_given_adds_three", nil, []string{
			`SecDefaultAction "phase:3,log,auditlog,pass"`, `SecDefaultAction "phase:4,log,auditlog,pass"`, `SecDefaultAction "phase:5,log,auditlog,pass"`}},
		{"crs_style_setup_adds_response_phases", []string{"Include setup.conf"}, []string{
			`SecDefaultAction "phase:3,log,auditlog,pass"`, `SecDefaultAction "phase:4,log,auditlog,pass"`, `SecDefaultAction "phase:5,log,auditlog,pass"`}},
		{"phase_by_name_in_include_is_respected", []string{"Include resp.conf"}, []string{
			`SecDefaultAction "phase:3,log,auditlog,pass"`, `SecDefaultAction "phase:5,log,auditlog,pass"`}},
		{"all_given_adds_none", []string{`SecDefaultAction "phase:3,log,pass"`, `SecDefaultAction "phase:4,nolog,pass"`, `SecDefaultAction "phase:5,log,pass"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := scanDirectives(tc.lines, root)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.missingDefaultActions(); strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDirectiveLines: directives are joined across continuations, comments and blank lines
// dropped, and a directive the scan does not read is skipped with all its continuation lines.
func TestDirectiveLines(t *testing.T) {
	text := "# comment\n\nSecRule ARGS \"@rx a\" \\\n  \"id:1,\\\n  SecRequestBodyLimit 9\"\n" +
		"SecRequestBodyLimit \\\n  1000\nSecDefaultAction\t\"phase:2,log\"\n  secresponsebodylimit 5\nSecAction \"id:2\"\nInclude a.conf"
	got := directiveLines(text, scanned)
	want := []string{"SecRequestBodyLimit  1000", "SecDefaultAction\t\"phase:2,log\"", "secresponsebodylimit 5", "Include a.conf"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if got := directiveLines("\\\n  SecRequestBodyLimit 5\n", scanned); len(got) != 1 || !strings.Contains(got[0], "SecRequestBodyLimit 5") {
		t.Fatalf("directive named on its second line: %q", got)
	}
	all := directiveLines(text, func(string) bool { return true })
	if len(all) != 6 || all[0] != `SecRule ARGS "@rx a"  "id:1, SecRequestBodyLimit 9"` {
		t.Fatalf("every directive: %q", all)
	}
}
