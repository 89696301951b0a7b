//go:build !wasip1

package bench

import (
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/corazawaf/coraza/v3"

	"github.com/meshwaf/meshwaf/internal/wasmtest"
	"github.com/meshwaf/meshwaf/wasmhost"
)

var (
	nativeOnce sync.Once
	nativeWAF  coraza.WAF
	nativeErr  error
)

func native(tb testing.TB) coraza.WAF {
	tb.Helper()
	nativeOnce.Do(func() { nativeWAF, nativeErr = NewNativeWAF(Directives) })
	if nativeErr != nil {
		tb.Fatal(nativeErr)
	}
	return nativeWAF
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

// TestCorpusVerdicts checks that every corpus entry gets the same verdict through the plugin
// and through native Coraza, and the one it is meant to get: the ratios compare equal work.
func TestCorpusVerdicts(t *testing.T) {
	p, waf := plugin(t), native(t)
	for _, c := range Corpus() {
		t.Run(c.Name, func(t *testing.T) {
			if err := check(context.Background(), p, waf, &c); err != nil {
				t.Error(err)
			}
		})
	}
}

// BenchmarkCorpus measures each corpus entry through the plugin in wazero and through native
// Coraza; benchstat's ratio of the two is the Wasm overhead. B/op of wasm counts the host's
// Go allocations only: the guest allocates inside its linear memory.
func BenchmarkCorpus(b *testing.B) {
	ctx := context.Background()
	p, waf := plugin(b), native(b)
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
	r := Report{RatioBenignGet: 2, Cases: []CaseReport{{Name: "benign_get", Ratio: 2}, {Name: "post_form_1k", Ratio: 7.5}}}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["ratio_post_form_1k"] != 7.5 || m["ratio_benign_get"] != 2.0 || m["cases"] == nil {
		t.Fatalf("bench.json keys: %s", b)
	}
}
