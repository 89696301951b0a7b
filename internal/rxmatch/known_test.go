package rxmatch

import (
	"regexp/syntax"
	"slices"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

// crsPatterns are the @rx arguments of the embedded CRS as Coraza hands them to the operator
// (it parses the rule files with a recording @rx), each with its (?sm) prefix.
func crsPatterns(t *testing.T) []string {
	t.Helper()
	var patterns []string
	plugins.RegisterOperator("rx", func(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
		if !matchesNonUTF8(o.Arguments) {
			patterns = append(patterns, "(?sm)"+o.Arguments)
		}
		return New(o)
	})
	defer Register()
	_, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).
		WithDirectives("Include @crs-setup.conf.example\nInclude @owasp_crs/*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(patterns)
	return slices.Compact(patterns)
}

// TestGeneratedAnalyses: every expression Coraza reads from the CRS is in the generated file
// (the build's rule scan reads arguments as Coraza does), with the phrases parsing it gives.
func TestGeneratedAnalyses(t *testing.T) {
	text, err := GenerateAnalyses(coreruleset.FS, "@owasp_crs/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	a := parseAnalyses(text)
	patterns := crsPatterns(t)
	if len(patterns) < 200 {
		t.Fatalf("%d CRS expressions: the rule files were not read", len(patterns))
	}
	filtered := 0
	for _, p := range patterns {
		got, known, err := a.phrases(p)
		if err != nil || !known {
			t.Fatalf("%q: listed %v, %v", p, known, err)
		}
		tree, _ := syntax.Parse(p, syntax.Perl)
		want := requiredPhrases(tree)
		if !slices.Equal(got, want) || (got == nil) != (want == nil) {
			t.Fatalf("%q: listed phrases %q, parsing gives %q", p, got, want)
		}
		if got != nil {
			filtered++
		}
	}
	if len(a) != len(patterns) || filtered < len(patterns)/3 {
		t.Fatalf("%d entries for %d expressions, %d with phrases", len(a), len(patterns), filtered)
	}
	if _, known, _ := a.phrases("(?sm)not a CRS expression"); known {
		t.Fatal("an expression outside the CRS is listed")
	}
	if _, err := GenerateAnalyses(coreruleset.FS, "@nothing/*.conf"); err == nil {
		t.Fatal("no rule files, no error")
	}
}

// TestListedExpressionNotParsedAtLoad: an expression found in the analyses takes their
// phrases without being parsed, so a wrong entry would show (here one made up for a pattern
// that does not parse); one not found is parsed and refused if bad.
func TestListedExpressionNotParsedAtLoad(t *testing.T) {
	a := parseAnalyses(formatAnalysis("(?sm)(unclosed", []string{"unclosed"}))
	phrases, known, err := a.phrases("(?sm)(unclosed")
	if err != nil || !known || !slices.Equal(phrases, []string{"unclosed"}) {
		t.Fatalf("listed entry read as %q, %v, %v", phrases, known, err)
	}
	if _, err := analyseWith(a, "(?sm)(unclosed"); err != nil {
		t.Fatalf("listed pattern parsed anyway: %v", err)
	}
	if _, err := analyseWith(a, "(?sm)(other"); err == nil {
		t.Fatal("a bad pattern not listed was accepted")
	}
}

// TestAnalysisLineRoundTrip: phrases written plain or quoted read back the same.
func TestAnalysisLineRoundTrip(t *testing.T) {
	want := []string{"a b", `q"`, `back\slash`, "plain", "é", "tab\t"}
	got, known, err := parseAnalyses(formatAnalysis("(?sm)x", want)).phrases("(?sm)x")
	if err != nil || !known || !slices.Equal(got, want) {
		t.Fatalf("read back %q, %v, %v; want %q", got, known, err, want)
	}
	got, known, err = parseAnalyses(formatAnalysis("(?sm)y", nil)).phrases("(?sm)y")
	if err != nil || !known || got != nil {
		t.Fatalf("no phrases read back as %q, %v, %v", got, known, err)
	}
}

// TestDamagedAnalysisLineRefused: a line without phrases or "-", or with an empty phrase,
// is an error, never an empty prefilter (which would reject every input).
func TestDamagedAnalysisLineRefused(t *testing.T) {
	key := analysisKey("(?sm)abc")
	for _, line := range []string{key, key + " ", key + " abc  def"} {
		if p, known, err := parseAnalyses(line).phrases("(?sm)abc"); err == nil || known {
			t.Errorf("line %q read as %q, known %v, no error", line, p, known)
		}
	}
}
