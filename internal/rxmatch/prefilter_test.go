package rxmatch

import (
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"regexp/syntax"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
	"github.com/goccy/go-yaml"

	"github.com/meshwaf/meshwaf/internal/phrasematch"
)

// checkSound fails when the prefilter of pattern turns away an input the expression matches.
// It reports whether the pattern got a prefilter.
func checkSound(t *testing.T, pattern string, inputs ...string) bool {
	t.Helper()
	full := "(?sm)" + pattern
	tree, err := syntax.Parse(full, syntax.Perl)
	if err != nil {
		return false
	}
	phrases := requiredPhrases(tree)
	if phrases == nil {
		return false
	}
	d, err := phrasematch.New(phrases)
	if err != nil {
		t.Fatalf("%q: phrases %q: %v", pattern, phrases, err)
	}
	re := regexp.MustCompile(full)
	for _, in := range inputs {
		if !d.Contains(in) && re.MatchString(in) {
			t.Fatalf("pattern %q matches %q, but its prefilter %q turned it away", pattern, in, phrases)
		}
	}
	return true
}

func TestRequiredPhrases(t *testing.T) {
	for pattern, want := range map[string]string{
		`union\s+select`:          "\tselect \nselect \fselect \rselect  select", // \s+ is [\t\n\f\r ] then more
		`(?i)union\s+select`:      "union\t union\n union\f union\r union ",
		`(?i)select`:              "elect", // s also matches U+017F
		`(?i)kill`:                "ill",   // k also matches the Kelvin sign
		`abc|de+f`:                "abc de",
		`(?:foo|bar)baz+`:         "barbaz foobaz",
		`(?i)(?:onerror|onload)=`: "onerror= onload=",
		`a.b`:                     "",
		`x*yz?`:                   "",
		`(?:ab)?cd`:               "abcd cd",
		`é`:                       "é",
		`(?i)é`:                   "",
		`(?i)[a-c]x`:              "ax bx cx", // the class lists its folds: [A-Ca-c]
		`(?i)[a-e]x`:              "",         // ten runes: more than maxClass
		`x?or|div`:                "div or xor",
		`\bab\b`:                  "ab",
		`\x{fffd}ab`:              "ab",
		`[a-z]+`:                  "",
		`(?:abc){2,}`:             "abc",
		`(?:abc){0,3}`:            "",
		`^$`:                      "",
		`ab+c`:                    "ab", // "bc" is required too; one set is kept
		`x(?:ab)+y`:               "xab",
		`ab|c`:                    "", // a one-byte phrase is not worth a filter
	} {
		tree, err := syntax.Parse("(?sm)"+pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(requiredPhrases(tree), " "); got != want {
			t.Errorf("%q: phrases %q, want %q", pattern, got, want)
		}
	}
}

func TestPrefilterSoundOnFoldingRunes(t *testing.T) {
	checkSound(t, `(?i)select`, "ſelect", "SELECT", "\u017fELECT")
	checkSound(t, `(?i)kill`, "\u212aILL", "KILL")
	checkSound(t, `(?i)ab\x{fffd}cd`, "AB\xffCD", "ab\ufffdcd")
	checkSound(t, `caf\x{e9}`, "café")
	// Go's regexp matches a surrogate literal against U+FFFD's bytes.
	checkSound(t, `\A\x{D800}ab\z`, "\uFFFDab", "\xed\xa0\x80ab")
}

// FuzzPrefilterSound: for any pattern and input, a turned-away input does not match.
func FuzzPrefilterSound(f *testing.F) {
	for _, s := range []string{`(?i)union\s+select`, `(?:foo|bar)+baz`, `(?i)k[s]`, `a{2}b`, `\x{212a}`} {
		f.Add(s, "xx UNION  SELECT ſ \u212a foo baz")
	}
	f.Fuzz(func(t *testing.T, pattern, input string) {
		if len(pattern) > 200 || len(input) > 500 {
			return
		}
		checkSound(t, pattern, input, strings.ToUpper(input), strings.ToLower(input))
	})
}

// TestCRSPrefiltersSound checks each CRS expression's prefilter against the payloads of the
// CRS regression tests of its file (decoded and not), where its true matches are.
func TestCRSPrefiltersSound(t *testing.T) {
	confs, err := fs.Glob(coreruleset.FS, "@owasp_crs/*.conf")
	if err != nil || len(confs) == 0 {
		t.Fatalf("CRS rule files: %v", err)
	}
	filtered, total := 0, 0
	for _, conf := range confs {
		text, err := fs.ReadFile(coreruleset.FS, conf)
		if err != nil {
			t.Fatal(err)
		}
		inputs := payloads(t, strings.TrimSuffix(path.Base(conf), ".conf"))
		for _, pattern := range ruleArguments(string(text)) {
			total++
			if checkSound(t, pattern, inputs...) {
				filtered++
			}
		}
	}
	t.Logf("%d of %d CRS expressions have a prefilter", filtered, total)
	if total < 200 || filtered < total/3 {
		t.Fatalf("%d of %d CRS expressions have a prefilter: the rule scan or the analysis broke", filtered, total)
	}
}

// payloads are the strings in the CRS regression tests of one rule file, as sent and
// URL-decoded.
func payloads(t *testing.T, dir string) []string {
	t.Helper()
	files, _ := fs.Glob(crstests.FS, dir+"/*.yaml")
	var out []string
	for _, f := range files {
		b, err := fs.ReadFile(crstests.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		walkStrings(doc, func(s string) {
			out = append(out, s)
			if d, err := url.QueryUnescape(s); err == nil && d != s {
				out = append(out, d)
			}
		})
	}
	return out
}

func walkStrings(v any, f func(string)) {
	switch v := v.(type) {
	case string:
		f(v)
	case []any:
		for _, e := range v {
			walkStrings(e, f)
		}
	case map[string]any:
		for _, e := range v {
			walkStrings(e, f)
		}
	}
}
