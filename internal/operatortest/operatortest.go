// Package operatortest holds a replacement Coraza operator to the stock one it replaces: the
// same rules, compiled before and after the replacement is registered, must match the same
// inputs and log the same data (captures included, through logdata).
package operatortest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
)

// CompareWithStock compiles cfg into a WAF, calls register, compiles it again, and sends each
// input as the query argument q to both. It fails t for every input the two answer
// differently, and when fewer than half the inputs match a rule: such a comparison shows
// little. Registration is global, so the caller's package must not have registered yet.
func CompareWithStock(t *testing.T, cfg coraza.WAFConfig, register func(), inputs []string) {
	t.Helper()
	stock, err := coraza.NewWAF(cfg)
	if err != nil {
		t.Fatalf("stock operators: %v", err)
	}
	register()
	ours, err := coraza.NewWAF(cfg)
	if err != nil {
		t.Fatalf("our operators: %v", err)
	}
	matched := 0
	for _, q := range inputs {
		want, got := MatchedRules(stock, q), MatchedRules(ours, q)
		if got != want {
			t.Errorf("q=%q:\n ours  %s\n stock %s", q, got, want)
		}
		if got != "" {
			matched++
		}
	}
	if matched < len(inputs)/2 {
		t.Fatalf("only %d of %d inputs matched a rule: the comparison is too weak", matched, len(inputs))
	}
}

// MatchedRules runs phase 1 for the query argument q and lists the rules that matched, each
// with what it matched and logged (variable, key, value, message and logdata of each match):
// "id[VAR:key=value msg=... data=...; ...] ...".
func MatchedRules(waf coraza.WAF, q string) string {
	tx := waf.NewTransaction()
	defer tx.Close()
	tx.AddGetRequestArgument("q", q)
	tx.ProcessRequestHeaders()
	var out []string
	for _, m := range tx.MatchedRules() {
		if mr, ok := m.(types.MatchedRule); ok {
			var matches []string
			for _, md := range mr.MatchedDatas() {
				matches = append(matches, fmt.Sprintf("%s:%s=%q msg=%q data=%q", md.Variable().Name(), md.Key(), md.Value(), md.Message(), md.Data()))
			}
			out = append(out, fmt.Sprintf("%d[%s]", mr.Rule().ID(), strings.Join(matches, "; ")))
		}
	}
	return strings.Join(out, " ")
}
