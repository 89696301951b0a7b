package rxmatch_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3"

	"github.com/meshwaf/meshwaf/internal/operatortest"
	"github.com/meshwaf/meshwaf/internal/rxmatch"
)

// patterns exercise captures (groups that do and do not take part), the (?sm) wrapping,
// case folding, the prefilter, and the byte-matching engine.
var patterns = []string{
	`(?i)union\s+(all\s+)?select`,
	`^(\w+)=(\d+)?(x)?$`,
	`a.b`,
	`(?i)on(?:error|load)\s*=`,
	`\xff\xfe`,
	`\x{ff}(a)`,
	`caf\x{e9}`,
	`((((((((((z))))))))))`,
	`^line2$`,
	`(?:ab){2,}`,
}

// TestOperatorMatchesStock compiles the same rules with stock Coraza's @rx and, after
// Register, with ours, and compares matched rules and captures.
func TestOperatorMatchesStock(t *testing.T) {
	var rules strings.Builder
	for i, p := range patterns {
		fmt.Fprintf(&rules, "SecRule ARGS:q \"@rx %s\" \"id:%d,phase:1,pass,log,capture,logdata:'%%{tx.0}|%%{tx.1}|%%{tx.2}|%%{tx.3}|%%{tx.8}|%%{tx.9}'\"\n", p, i+1)
	}
	inputs := []string{
		"", "1 UNION ALL SELECT x", "1 union\nselect", "ſelect union ſelect", "key=12", "key=", "key=1x",
		"a\nb", "AXB", "<img ONERROR =x>", "\xff\xfe", "\xffa", "café", "CAFÉ", "zzz", "line1\nline2\nline3",
		"abab", "ab", "\xff", strings.Repeat("ab", 50),
	}
	cfg := coraza.NewWAFConfig().WithDirectives("SecRuleEngine On\n" + rules.String())
	operatortest.CompareWithStock(t, cfg, rxmatch.Register, inputs)
}

func TestBadPatternRefusedAtLoad(t *testing.T) {
	rxmatch.Register()
	_, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives(`SecRule ARGS "@rx a(b" "id:7,pass"`))
	if err == nil || !strings.Contains(err.Error(), "missing closing )") {
		t.Fatalf("error %v, want the parse error of a(b", err)
	}
}
