package logdata

import (
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins"

	"github.com/meshwaf/meshwaf/internal/operatortest"
)

// The rules log through shared texts (rules 1 and 2), chains, %{rule.logdata} (set when a
// rule's evaluation starts, before it matches), unset variables, long values, an update by
// id and a default action.
const rules = `
SecRule ARGS:q "@rx (a+)(b*)" "id:1,phase:1,pass,log,capture,logdata:'Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}',setvar:'tx.ld1=%{rule.logdata}'"
SecRule ARGS:q "@rx c" "id:2,phase:1,pass,log,logdata:'Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}'"
SecRule ARGS:q "@contains d" "id:3,phase:1,pass,log,chain,logdata:'%{MATCHED_VAR_NAME}=%{MATCHED_VAR}'"
  SecRule MATCHED_VAR "@contains e" "t:none,logdata:'inner %{MATCHED_VAR} after %{tx.ld1}'"
SecRule TX:ld1 "@rx ." "id:4,phase:1,pass,log,logdata:'rule 1 started with: %{tx.ld1}'"
SecAction "id:5,phase:1,pass,log,logdata:'unset %{tx.missing}, last %{MATCHED_VAR}'"
SecRule ARGS:q "@rx ^z" "id:6,phase:1,pass,log,logdata:'meshwaf-logdata-test %{MATCHED_VAR}'"
SecRule ARGS:q "@rx z$" "id:8,phase:1,pass,log,logdata:'before the update'"
SecRuleUpdateActionById 8 "logdata:'updated:%{MATCHED_VAR_NAME}=%{MATCHED_VAR}'"
SecDefaultAction "phase:1,log,pass,logdata:'by default: %{MATCHED_VAR}'"
SecRule ARGS:q "@rx ^d" "id:7,phase:1"
`

func TestLoggedDataAsCoraza(t *testing.T) {
	inputs := []string{"aab", "xyz", "c", "aabc", "de", "dx", "c", "zz", strings.Repeat("a", 300) + "bc", "aabc", "dae"}
	cfg := coraza.NewWAFConfig().WithDirectives(rules)
	operatortest.CompareWithStock(t, cfg, func() { plugins.RegisterAction("logdata", Action) }, inputs)

	macrosMu.Lock()
	_, ours := macros["meshwaf-logdata-test %{MATCHED_VAR}"]
	macrosMu.Unlock()
	if !ours {
		t.Fatal("the rules compiled after registration did not go through this package's logdata action")
	}
	if _, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives(`SecAction "id:1,pass,logdata:'%{nosuchvar}'"`)); err == nil || !strings.Contains(err.Error(), `unknown variable "nosuchvar"`) {
		t.Errorf("a bad logdata: %v, want Coraza's error naming the variable", err)
	}
	if _, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives(`SecAction "id:1,pass,logdata:''"`)); err == nil || !strings.Contains(err.Error(), "missing arguments") {
		t.Errorf("an empty logdata: %v, want Coraza's missing arguments", err)
	}
}

type foreignRule struct{ id int }

func (r *foreignRule) ID() int       { return r.id }
func (r *foreignRule) ParentID() int { return 0 }
func (r *foreignRule) Status() int   { return 0 }

func TestInitRefusesARuleWithoutLogData(t *testing.T) {
	err := Action().Init(&foreignRule{id: 1}, "x %{MATCHED_VAR}")
	if err == nil || !strings.Contains(err.Error(), "no settable LogData field") {
		t.Fatalf("Init on a rule type without LogData: %v", err)
	}
}
