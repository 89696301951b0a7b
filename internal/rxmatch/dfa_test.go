package rxmatch

import (
	"io/fs"
	"path"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

// TestCRSDFAAgreesWithRegexp runs every CRS expression's DFA, as the operator builds it, on
// the payloads of the CRS regression tests of its file (where its true matches are) and on
// benign text, against Go's regexp.
func TestCRSDFAAgreesWithRegexp(t *testing.T) {
	confs, err := fs.Glob(coreruleset.FS, "@owasp_crs/*.conf")
	if err != nil || len(confs) == 0 {
		t.Fatalf("CRS rule files: %v", err)
	}
	benign := []string{"", "hello world", "/index.html?q=shoes&page=2", "Mozilla/5.0 (X11; Linux x86_64)", "naïve café \xff"}
	checked, matches := 0, 0
	for _, conf := range confs {
		text, err := fs.ReadFile(coreruleset.FS, conf)
		if err != nil {
			t.Fatal(err)
		}
		inputs := append(payloads(t, strings.TrimSuffix(path.Base(conf), ".conf")), benign...)
		for _, pattern := range ruleArguments(string(text)) {
			if matchesNonUTF8(pattern) {
				continue // binaryregexp, no DFA
			}
			op, err := New(plugintypes.OperatorOptions{Arguments: pattern})
			if err != nil {
				t.Fatalf("%q: %v", pattern, err)
			}
			e := op.(Operator).expr
			for _, in := range inputs {
				got, want := e.matcher().MatchString(in), e.regexp().MatchString(in)
				if got != want {
					t.Fatalf("%s: %q on %q: DFA says %v, regexp %v", conf, pattern, in, got, want)
				}
				if got {
					matches++
				}
			}
			checked++
		}
	}
	t.Logf("%d CRS expressions, %d matches among their payloads", checked, matches)
	if checked < 200 || matches < 500 {
		t.Fatalf("%d expressions, %d matches: the rule scan or the payloads broke", checked, matches)
	}
}
