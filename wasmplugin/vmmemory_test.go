//go:build !wasip1

package wasmplugin_test

import (
	"context"
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
