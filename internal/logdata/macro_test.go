package logdata

import (
	"fmt"
	"io/fs"
	"regexp"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins/macro"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

// crsTexts returns every distinct logdata and msg text of the CRS rule files.
func crsTexts(t testing.TB) []string {
	t.Helper()
	confs, err := fs.Glob(coreruleset.FS, "@owasp_crs/*.conf")
	if err != nil || len(confs) == 0 {
		t.Fatalf("CRS rule files: %v (%d found)", err, len(confs))
	}
	re := regexp.MustCompile(`(?:logdata|msg):'([^']*)'`)
	seen := map[string]bool{}
	var texts []string
	for _, conf := range confs {
		b, err := fs.ReadFile(coreruleset.FS, conf)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if !seen[m[1]] {
				seen[m[1]] = true
				texts = append(texts, m[1])
			}
		}
	}
	return texts
}

var edgeTexts = []string{
	"", "a", "%", "%{", "abc%{", "%{}", "%{.}", "%{tx.}", "%{tx.a", "%{tx.a}", "%{TX.A}b", "a%{tx.a}b%{tx.b}c",
	"%%{tx.a}", "%{tx.%{tx.b}", "%{tx.a b}", "%{foo}", "%{MATCHED_VAR}%{MATCHED_VAR}", "100%",
	"%{matched_var_name}=%{matched_var}", "%{ARGS_COMBINED_SIZE}", "%{REQUEST_HEADERS.Host}",
	"%{tx.a}}", "{%{tx.a}", "%{tx.a-b_c[0]}", "%{tx.0}%{tx.1}%{tx.2}%{tx.3}%{tx.4}%{tx.5}%{tx.6}%{tx.7}%{tx.8}",
}

func TestParseMatchesCoraza(t *testing.T) {
	texts := append(crsTexts(t), edgeTexts...)
	refs := 0
	for _, text := range texts {
		ours, err := Parse(text)
		stock, stockErr := macro.NewMacro(text)
		if fmt.Sprint(err) != fmt.Sprint(stockErr) {
			t.Errorf("%q: error %v, Coraza's %v", text, err, stockErr)
			continue
		}
		if err != nil {
			continue
		}
		if ours.String() != stock.String() {
			t.Errorf("%q: String %q, Coraza's %q", text, ours.String(), stock.String())
		}
		if strings.Contains(text, "%{") {
			refs++
		}
	}
	if refs < 20 {
		t.Fatalf("only %d texts with references: the CRS scan found too little", refs)
	}
}

// state is a transaction with variables set as a rule set would set them.
type state struct {
	tx0, txA, matchedVar, matchedName, header string
	args                                      int // query arguments, for ARGS_COMBINED_SIZE
}

func (s state) apply(t testing.TB, waf coraza.WAF) plugintypes.TransactionState {
	t.Helper()
	tx := waf.NewTransaction()
	t.Cleanup(func() { _ = tx.Close() })
	ts := tx.(plugintypes.TransactionState)
	vars := ts.Variables()
	if s.tx0 != "" {
		vars.TX().Set("0", []string{s.tx0})
	}
	if s.txA != "" {
		vars.TX().Set("a", []string{s.txA})
	}
	setSingle(t, vars.MatchedVar(), s.matchedVar)
	setSingle(t, vars.MatchedVarName(), s.matchedName)
	if s.header != "" {
		tx.AddRequestHeader("Host", s.header)
	}
	for i := range s.args {
		tx.AddGetRequestArgument(fmt.Sprintf("k%d", i), "value")
	}
	return ts
}

func setSingle(t testing.TB, c any, v string) {
	s, ok := c.(interface{ Set(string) })
	if !ok {
		t.Fatalf("%T cannot be set", c)
	}
	s.Set(v)
}

var states = []state{
	{},
	{tx0: "union select", matchedVar: "1 union select 2", matchedName: "ARGS:id", header: "example.com", args: 2},
	{tx0: "union select", matchedVar: "1 union select 2", matchedName: "ARGS:id", header: "example.com", args: 2},
	{txA: "x", matchedVar: "", matchedName: "REQUEST_HEADERS:Host"},
	{tx0: strings.Repeat("<script>", 64), matchedVar: strings.Repeat("b", 300), matchedName: "REQUEST_BODY"},
	{tx0: strings.Repeat("<script>", 64), matchedVar: strings.Repeat("b", 300), matchedName: "REQUEST_BODY"},
	{tx0: "union select", matchedVar: "1 union select 2", matchedName: "ARGS:id", header: "example.com", args: 2},
	{tx0: "union", matchedVar: "1 union select 2", matchedName: "ARGS:id"},
}

// TestExpandMatchesCoraza expands every CRS text and the edge cases in a sequence of states,
// the same state twice in a row (the reuse of the last expansion) and long values (no reuse).
func TestExpandMatchesCoraza(t *testing.T) {
	waf, err := coraza.NewWAF(coraza.NewWAFConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range append(crsTexts(t), edgeTexts...) {
		ours, err := Parse(text)
		if err != nil {
			continue
		}
		stock, _ := macro.NewMacro(text)
		for i, s := range states {
			tx := s.apply(t, waf)
			if got, want := ours.Expand(tx), stock.Expand(tx); got != want {
				t.Errorf("%q in state %d: %q, Coraza's %q", text, i, got, want)
			}
		}
	}
}

func TestExpandReusesTheLastText(t *testing.T) {
	waf, err := coraza.NewWAF(coraza.NewWAFConfig())
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse("Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}")
	if err != nil {
		t.Fatal(err)
	}
	tx := states[1].apply(t, waf)
	first := m.Expand(tx)
	// TX.0 is read through Coraza's Map.Get, which copies the values: one allocation left.
	if n := testing.AllocsPerRun(100, func() {
		if m.Expand(tx) != first {
			t.Fatal("a second expansion in the same state differs")
		}
	}); n > 1 {
		t.Errorf("an expansion in the state of the last one allocates %v times, want at most 1 (Coraza's own lookup)", n)
	}
	long := states[4].apply(t, waf)
	if got := m.Expand(long); m.last.Load() == nil || *m.last.Load() == got {
		t.Errorf("an expansion of %d bytes was kept for reuse (limit %d): it may hold a request body", len(got), memoLimit)
	}
	if got := m.Expand(tx); got != first {
		t.Errorf("after a long expansion: %q, want %q", got, first)
	}
}

// FuzzExpandMatchesCoraza checks that any text parses with Coraza's verdict and expands to
// Coraza's text in two states in a row.
func FuzzExpandMatchesCoraza(f *testing.F) {
	for _, text := range append(crsTexts(f), edgeTexts...) {
		f.Add(text, "union select", "1 union select 2", "ARGS:id")
	}
	waf, err := coraza.NewWAF(coraza.NewWAFConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text, tx0, matchedVar, matchedName string) {
		ours, err := Parse(text)
		stock, stockErr := macro.NewMacro(text)
		if fmt.Sprint(err) != fmt.Sprint(stockErr) {
			t.Fatalf("%q: error %v, Coraza's %v", text, err, stockErr)
		}
		if err != nil {
			return
		}
		for _, s := range []state{
			{tx0: tx0, matchedVar: matchedVar, matchedName: matchedName, header: tx0, args: len(tx0) % 3},
			{tx0: tx0, matchedVar: matchedVar, matchedName: matchedName, header: tx0, args: len(tx0) % 3},
			{txA: matchedVar, matchedVar: tx0},
		} {
			tx := s.apply(t, waf)
			if got, want := ours.Expand(tx), stock.Expand(tx); got != want {
				t.Fatalf("%q in %+v: %q, Coraza's %q", text, s, got, want)
			}
		}
	})
}
