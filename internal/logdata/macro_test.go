package logdata

import (
	"bytes"
	"fmt"
	"io/fs"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/debuglog"
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
		if got, want := tokensOf(ours), fmt.Sprintf("%+v", reflect.ValueOf(stock).Elem()); got != want {
			t.Errorf("%q: tokens\n %s\nCoraza's\n %s", text, got, want)
		}
		if ours.String() != text {
			t.Errorf("%q: String %q", text, ours.String())
		}
		if strings.Contains(text, "%{") {
			refs++
		}
	}
	if refs < 20 {
		t.Fatalf("only %d texts with references: the CRS scan found too little", refs)
	}
}

// tokensOf prints m as fmt prints the fields of Coraza's macro struct ({original:…
// tokens:[{text:… variable:… key:…} …]}): names and order are the same, so the parsed
// tokens compare as text.
func tokensOf(m *Macro) string {
	return fmt.Sprintf("%+v", reflect.ValueOf(struct {
		original string
		tokens   []token
	}{m.original, m.tokens}))
}

// newWAF compiles cfg (nil: no directives) for tests that need transactions.
func newWAF(t testing.TB, cfg coraza.WAFConfig) coraza.WAF {
	t.Helper()
	if cfg == nil {
		cfg = coraza.NewWAFConfig()
	}
	waf, err := coraza.NewWAF(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return waf
}

// parseBoth parses a text known to be valid with ours and with Coraza's.
func parseBoth(t testing.TB, text string) (*Macro, macro.Macro) {
	t.Helper()
	ours, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	stock, err := macro.NewMacro(text)
	if err != nil {
		t.Fatal(err)
	}
	return ours, stock
}

// state is a transaction with variables set as a rule set would set them.
type state struct {
	tx0, txA, matchedVar, matchedName, header string
	txKey, txValue                            string // one more TX variable, any name
	args                                      int    // query arguments, for ARGS_COMBINED_SIZE
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
	if s.txKey != "" {
		vars.TX().Set(s.txKey, []string{s.txValue})
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
	waf := newWAF(t, nil)
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
	waf := newWAF(t, nil)
	m, _ := parseBoth(t, "Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}")
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
	// Misses: the text itself, and the box that keeps it when it is short (plus the lookup).
	for _, c := range []struct {
		name  string
		state state
		want  float64
	}{
		{"short", states[1], 3},
		{"long", states[4], 2},
	} {
		a, b := c.state, c.state
		a.matchedVar, b.matchedVar = "x"+c.state.matchedVar, "y"+c.state.matchedVar
		txA, txB := a.apply(t, waf), b.apply(t, waf)
		flip := false
		if n := testing.AllocsPerRun(100, func() {
			flip = !flip
			if flip {
				m.Expand(txA)
			} else {
				m.Expand(txB)
			}
		}); n > c.want {
			t.Errorf("a %s expansion that differs from the last allocates %v times, want at most %v", c.name, n, c.want)
		}
	}
}

// TestReuseLimit: an expansion of exactly memoLimit bytes is kept, one byte more is not.
func TestReuseLimit(t *testing.T) {
	waf := newWAF(t, nil)
	m, _ := parseBoth(t, "v=%{MATCHED_VAR}")
	for _, n := range []int{memoLimit, memoLimit + 1} {
		m.last.Store(nil)
		text := m.Expand(state{matchedVar: strings.Repeat("v", n-len("v="))}.apply(t, waf))
		if len(text) != n {
			t.Fatalf("expanded %d bytes, want %d", len(text), n)
		}
		if kept := m.last.Load() != nil; kept != (n <= memoLimit) {
			t.Errorf("a %d-byte expansion kept: %v (limit %d)", n, kept, memoLimit)
		}
	}
}

// TestConcurrentExpansions: transactions of different states expanding one shared Macro at
// once each get their own text (run with -race to check the sharing itself).
func TestConcurrentExpansions(t *testing.T) {
	waf := newWAF(t, nil)
	const text = "Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}"
	m, stock := parseBoth(t, text)
	var wg sync.WaitGroup
	for g := range 8 {
		s := state{tx0: fmt.Sprint("tx0-", g), matchedVar: fmt.Sprint("value-", g%3), matchedName: "ARGS:q"}
		tx := s.apply(t, waf)
		want := stock.Expand(tx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				if got := m.Expand(tx); got != want {
					t.Errorf("goroutine %d: %q, want %q", g, got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestWarningsAsCoraza: an unset variable is logged at warn level as Coraza's expansion
// logs it, once per reference and expansion, reuse or not.
func TestWarningsAsCoraza(t *testing.T) {
	var logged bytes.Buffer
	waf := newWAF(t, coraza.NewWAFConfig().WithDebugLogger(
		debuglog.Default().WithLevel(debuglog.LevelWarn).WithOutput(&logged)))
	const text = "unset %{tx.missing} and %{REQUEST_HEADERS.x-none}, set %{MATCHED_VAR}"
	m, stock := parseBoth(t, text)
	tx := state{matchedVar: "v"}.apply(t, waf)
	warnings := func(expand func() string) string {
		logged.Reset()
		expand()
		// The second expansion reuses the text, and must warn all the same.
		expand()
		noTimestamps := regexp.MustCompile(`(?m)^\S+ \S+ `)
		return noTimestamps.ReplaceAllString(logged.String(), "")
	}
	got := warnings(func() string { return m.Expand(tx) })
	want := warnings(func() string { return stock.Expand(tx) })
	if got != want || strings.Count(want, "key not found") != 4 {
		t.Errorf("warnings:\n%s\nCoraza's (4 expected):\n%s", got, want)
	}
}

// FuzzExpandMatchesCoraza checks that any text parses with Coraza's verdict and expands to
// Coraza's text in three states in a row (the first two the same), with a TX variable of the
// fuzzer's naming set, so references to it are found, not only left unset.
func FuzzExpandMatchesCoraza(f *testing.F) {
	for _, text := range append(crsTexts(f), edgeTexts...) {
		f.Add(text, "union select", "1 union select 2", "ARGS:id", "a")
	}
	f.Add("x %{tx.some_key} y %{TX.Some_Key}", "v", "w", "ARGS:a", "some_key")
	f.Add("%{REQUEST_HEADERS.host}%{tx.0}", "example.com", "", "", "0")
	waf := newWAF(f, nil)
	f.Fuzz(func(t *testing.T, text, tx0, matchedVar, matchedName, txKey string) {
		ours, err := Parse(text)
		stock, stockErr := macro.NewMacro(text)
		if fmt.Sprint(err) != fmt.Sprint(stockErr) {
			t.Fatalf("%q: error %v, Coraza's %v", text, err, stockErr)
		}
		if err != nil {
			return
		}
		for _, s := range []state{
			{tx0: tx0, matchedVar: matchedVar, matchedName: matchedName, header: tx0, args: len(tx0) % 3, txKey: txKey, txValue: matchedName},
			{tx0: tx0, matchedVar: matchedVar, matchedName: matchedName, header: tx0, args: len(tx0) % 3, txKey: txKey, txValue: matchedName},
			{txA: matchedVar, matchedVar: tx0, txKey: txKey, txValue: tx0},
		} {
			tx := s.apply(t, waf)
			if got, want := ours.Expand(tx), stock.Expand(tx); got != want {
				t.Fatalf("%q in %+v: %q, Coraza's %q", text, s, got, want)
			}
		}
	})
}
