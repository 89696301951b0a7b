//go:build !wasip1

package bench

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/corazawaf/coraza/v3"

	"github.com/meshwaf/meshwaf/internal/wasmtest"
	"github.com/meshwaf/meshwaf/wasmhost"
)

var (
	nativeOnce          sync.Once
	stockWAF, engineWAF coraza.WAF
	nativeErr           error
)

// native returns stock Coraza and the plugin's engine natively, compiled in the only order
// that works in one process: stock first, since registering the plugin's operators is global.
func native(tb testing.TB) (stock, engine coraza.WAF) {
	tb.Helper()
	nativeOnce.Do(func() {
		if stockWAF, nativeErr = NewNativeWAF(Directives); nativeErr == nil {
			engineWAF, nativeErr = NewNativeEngineWAF(Directives)
		}
	})
	if nativeErr != nil {
		tb.Fatal(nativeErr)
	}
	return stockWAF, engineWAF
}

func plugin(tb testing.TB) *wasmhost.Plugin {
	tb.Helper()
	m := wasmtest.Module(tb, wasmtest.Plugin)
	p, err := m.NewPlugin(context.Background(), wasmhost.WithPluginConfig(PluginConfig(Directives)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// TestCorpusVerdicts checks that every corpus entry gets the same verdict through the plugin,
// through native Coraza and through the plugin's engine natively, and the one it is meant to
// get: the ratios compare equal work.
func TestCorpusVerdicts(t *testing.T) {
	p := plugin(t)
	stock, engine := native(t)
	for _, c := range Corpus() {
		t.Run(c.Name, func(t *testing.T) {
			if err := check(context.Background(), p, stock, engine, &c); err != nil {
				t.Error(err)
			}
		})
	}
}

// BenchmarkCorpus measures each corpus entry through the plugin in wazero, through native
// Coraza and through the plugin's engine natively (engine/); benchstat's ratio of wasm to
// native is the Wasm overhead. B/op of wasm counts the host's Go allocations only: the guest
// allocates inside its linear memory.
func BenchmarkCorpus(b *testing.B) {
	ctx := context.Background()
	p := plugin(b)
	waf, engine := native(b)
	for _, c := range Corpus() {
		b.Run("wasm/"+c.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Wasm(ctx, p, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("native/"+c.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Native(waf, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("engine/"+c.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Native(engine, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoad is the CRS load of one VM (instantiate, _initialize, configure).
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	m := wasmtest.Module(b, wasmtest.Plugin)
	b.ReportAllocs()
	for b.Loop() {
		p, err := m.NewPlugin(ctx, wasmhost.WithPluginConfig(PluginConfig(Directives)))
		if err != nil {
			b.Fatal(err)
		}
		_ = p.Close(ctx)
	}
}

// TestReportHasRatioPerCase: build/bench.json carries ratio_<case> for every corpus entry.
func TestReportHasRatioPerCase(t *testing.T) {
	r := Report{RatioBenignGet: 2, Cases: []CaseReport{{Name: "benign_get", Ratio: 2}, {Name: "post_form_1k", Ratio: 7.5, Work: 0.25, WasmFactor: 30}}}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["ratio_post_form_1k"] != 7.5 || m["ratio_benign_get"] != 2.0 || m["cases"] == nil ||
		m["work_post_form_1k"] != 0.25 || m["wasm_factor_post_form_1k"] != 30.0 {
		t.Fatalf("bench.json keys: %s", b)
	}
}

// TestStockRefusedOnceOperatorsRegistered: once the plugin's operators are registered in the
// process, a "stock" WAF would silently be the plugin's engine and every ratio would be wrong.
func TestStockRefusedOnceOperatorsRegistered(t *testing.T) {
	native(t) // registers them
	if _, err := NewNativeWAF(Directives); err == nil || !strings.Contains(err.Error(), "operators and actions are registered") {
		t.Fatalf("NewNativeWAF after registration: %v", err)
	}
}

// TestEngineUsesPluginOperators: the engine WAF runs meshwaf's @pm, which refuses an empty
// phrase that stock Coraza's accepts; so the two native WAFs really differ in their operators.
func TestEngineUsesPluginOperators(t *testing.T) {
	native(t)
	rule := `SecRule ARGS "@pm a  b" "id:1,phase:1,deny"`
	if _, err := newNative([]string{rule}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("rule with an empty @pm phrase compiled with the plugin's operators: %v", err)
	}
}
