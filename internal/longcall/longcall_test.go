package longcall

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"
)

// needle matches one value; every other evaluation fails, as most do in the CRS.
type needle struct{}

func (needle) Evaluate(_ plugintypes.TransactionState, value string) bool { return value == "needle" }

func newNeedle(plugintypes.OperatorOptions) (plugintypes.Operator, error) { return needle{}, nil }

func init() {
	plugins.RegisterOperator("longcallBare", newNeedle)
	plugins.RegisterOperator("longcallCheckpointed", Operator(newNeedle))
}

func TestFindsCorazaTransformationCache(t *testing.T) {
	waf, err := coraza.NewWAF(coraza.NewWAFConfig())
	if err != nil {
		t.Fatal(err)
	}
	tx := waf.NewTransaction()
	defer tx.Close()
	cache, ok := transformationCache(tx)
	if !ok {
		t.Fatalf("no transformationCache map field in %T: Coraza changed, and large requests are no longer bounded", tx)
	}
	if cache.Kind() != reflect.Map {
		t.Fatalf("transformationCache is a %s", cache.Kind())
	}
	if _, ok := transformationCache(struct{}{}); ok {
		t.Fatal("a value without the field has a cache")
	}
}

// phase2 runs phase 2 of a transaction with n arguments, the last one "NEEDLE", on rules
// whose transformation chains share no prefix (each adds its own cache entries), and
// returns the cache size after the phase and whether the request was interrupted.
func phase2(t *testing.T, operator string, n int) (cached int, it *types.Interruption) {
	t.Helper()
	var rules []string
	for i, chain := range []string{"t:lowercase,t:trim", "t:urlDecode,t:lowercase", "t:trim,t:lowercase",
		"t:removeNulls,t:lowercase", "t:compressWhitespace,t:lowercase"} {
		action := "pass,nolog" // every rule sees every argument; the last one blocks
		if i == 4 {
			action = "deny,status:403"
		}
		rules = append(rules, fmt.Sprintf(`SecRule ARGS|ARGS_NAMES "@%s" "id:%d,phase:2,%s,%s"`, operator, i+1, action, chain))
	}
	waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives("SecRuleEngine On\nSecArgumentsLimit 10000\n" + strings.Join(rules, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	tx := waf.NewTransaction()
	defer tx.Close()
	for i := range n - 1 {
		tx.AddGetRequestArgument(fmt.Sprintf("field%d", i), fmt.Sprintf("value %d", i))
	}
	tx.AddGetRequestArgument("last", "NEEDLE")
	tx.ProcessRequestHeaders()
	it, err = tx.ProcessRequestBody()
	if err != nil {
		t.Fatal(err)
	}
	cache, ok := transformationCache(tx)
	if !ok {
		t.Fatal("no transformation cache")
	}
	return cache.Len(), it
}

func TestBoundsTransformationCache(t *testing.T) {
	const n = 4000 // 4,000 arguments × 2 variables × 10 chain prefixes: 80,000 entries unbounded
	bare, bareIt := phase2(t, "longcallBare", n)
	if bare <= 2*CacheBound {
		t.Fatalf("without checkpoints the cache holds %d entries: the request is too small to test the bound", bare)
	}
	bounded, it := phase2(t, "longcallCheckpointed", n)
	// Between two checkpoints that act, 64 evaluations add at most 2 entries each.
	if limit := CacheBound + 2*every; bounded > limit {
		t.Fatalf("with checkpoints the cache holds %d entries, more than %d", bounded, limit)
	}
	// The last argument is evaluated after many clears and is still found.
	if bareIt == nil || it == nil || it.RuleID != bareIt.RuleID {
		t.Fatalf("interruption with checkpoints %+v, without %+v", it, bareIt)
	}
}
