//go:build !wasip1

package wasmplugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// TestVMMemoryGauge: waf_filter.vm.memory_bytes shows the VM's memory from the first stream
// on, never more than the host sees as its linear memory, and follows it up.
func TestVMMemoryGauge(t *testing.T) {
	ctx := context.Background()
	cfg := `{"directives_map":{"a":["SecRuleEngine On","SecRule ARGS \"@rx never\" \"id:1,phase:1,pass,t:lowercase\""]},"default_directives":"a"}`
	p, err := wafModule(t).NewPlugin(ctx, wasmhost.WithPluginConfig([]byte(cfg)), wasmhost.WithVMs(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	linear := func() int64 {
		sizes, err := p.MemorySizes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return int64(sizes[0])
	}
	if v := metric(p, "waf_filter.vm.memory_bytes"); v != 0 {
		t.Fatalf("gauge %d before any stream", v)
	}
	drive(t, p, request{path: "/"})
	first := metric(p, "waf_filter.vm.memory_bytes")
	if first < 4<<20 || first > linear() {
		t.Fatalf("gauge %d after the first stream; linear memory %d", first, linear())
	}
	// Streams whose arguments the VM must hold grow its heap; the gauge follows.
	big := "/?" + strings.Repeat("a="+strings.Repeat("x", 4000)+"&", 50)
	for range 2 * 64 {
		drive(t, p, request{path: big})
	}
	after := metric(p, "waf_filter.vm.memory_bytes")
	if after <= first || after > linear() {
		t.Fatalf("gauge %d after 129 streams (first %d); linear memory %d", after, first, linear())
	}
}

// TestLargeBodyMemoryBounded: a JSON body of ~650 fields, inspected by the full CRS in one
// proxy_on_request_body call, leaves the VM small. Without internal/longcall's checkpoints the
// GC cannot finish a cycle inside that call and Coraza's transformation cache keeps every
// transformed value of the phase: 103.5 MiB after the first such request, growing after.
func TestLargeBodyMemoryBounded(t *testing.T) {
	ctx := context.Background()
	cfg, _ := json.Marshal(map[string]any{"directives_map": map[string][]string{"crs": crs}, "default_directives": "crs"})
	p, err := wafModule(t).NewPlugin(ctx, wasmhost.WithPluginConfig(cfg), wasmhost.WithVMs(1))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	var body strings.Builder
	body.WriteString(`{"items":[`)
	for i := range 130 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"id":%d,"name":"item %d","price":%d.50,"tags":["blue","small"]}`, i, i, i)
	}
	body.WriteString(`]}`)
	const limit = 56 << 20 // 37 MiB measured; the waypoint in docs/performance.md is 48
	for i := range 3 {
		out := drive(t, p, request{method: "POST", path: "/api/items", body: []byte(body.String()),
			headers: [][2]string{{"content-type", "application/json"}}})
		if out.reply != nil {
			t.Fatalf("request %d answered locally with %d: the body is benign", i, out.reply.Status)
		}
		sizes, err := p.MemorySizes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sizes[0] > limit {
			t.Fatalf("linear memory %.1f MiB after %d requests with a 650-field JSON body, more than %d MiB",
				float64(sizes[0])/(1<<20), i+1, limit>>20)
		}
	}
}
