package phrasematch_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/corazawaf/coraza/v3"

	"github.com/meshwaf/meshwaf/internal/operatortest"
	"github.com/meshwaf/meshwaf/internal/phrasematch"
)

// rulesFS holds rules that capture what @pm and @pmFromFile match, so a transaction's
// matched rules show the verdict and the captures TX.0 to TX.9.
var rulesFS = fstest.MapFS{
	"rules/pm.conf": {Data: []byte(`
SecRule ARGS:q "@pm select union Union_all sel /etc/ ETC/passwd" "id:1,phase:1,pass,log,capture,logdata:'%{tx.0}|%{tx.1}|%{tx.2}|%{tx.3}|%{tx.4}|%{tx.5}|%{tx.6}|%{tx.7}|%{tx.8}|%{tx.9}'"
SecRule ARGS:q "@pmFromFile words.data" "id:2,phase:1,pass,log,capture,logdata:'%{tx.0}|%{tx.1}|%{tx.2}|%{tx.9}'"
SecRule ARGS:q "@pmf words.data" "id:3,phase:1,pass,log"
SecRule ARGS:q "@pm a" "id:4,phase:1,pass,log"
`)},
	"rules/words.data": {Data: []byte("# a comment\n\n  Nikto\r\nsqlmap\nnmap scripting engine\nmap\n")},
}

// TestOperatorsMatchStock builds the same rules with stock Coraza's operators and, after
// Register, with ours, and compares matched rules and captures over chosen and random inputs.
func TestOperatorsMatchStock(t *testing.T) {
	inputs := []string{
		"", "a", "nothing here", "1 UNION ALL SELECT x", "cat /ETC/PASSWD", "Mozilla Nikto/2.1",
		"SQLMAP nmap Scripting Engine", "selselselselselselselselselselselsel", "mapmapmap",
	}
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"sel", "select", "union_all", "/etc/passwd", "nmap", "map", "x", " ", "NIKTO", "é"}
	for range 500 {
		var b strings.Builder
		for range rng.IntN(8) {
			b.WriteString(words[rng.IntN(len(words))])
		}
		inputs = append(inputs, b.String())
	}
	cfg := coraza.NewWAFConfig().WithRootFS(rulesFS).WithDirectives("SecRuleEngine On\nInclude rules/pm.conf")
	operatortest.CompareWithStock(t, cfg, phrasematch.Register, inputs)
}

func TestBadDictionariesRefused(t *testing.T) {
	phrasematch.Register()
	for directive, want := range map[string]string{
		`SecRule ARGS "@pm a  b" "id:1,pass"`:                        "empty phrase",
		`SecRule ARGS "@pmFromFile missing.data" "id:1,pass"`:        "missing.data",
		`SecRule ARGS "@pmf /rules/nothing-here.data" "id:1,pass"`:   "nothing-here.data",
		`SecRule ARGS "@pmFromFile ../outside.data" "id:1,pass,log"`: "outside.data",
	} {
		_, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(rulesFS).WithDirectives(directive))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %q", directive, err, want)
		}
	}
}
