package wasmhost_test

import (
	"context"
	"testing"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// TestHeapReclaimedBetweenStreams: streams that each build and drop 16 MiB of objects leave
// the VM's linear memory flat. In a reactor the Go runtime's background work (the GC's mark
// workers, the sweeper) runs only when the guest yields; the guest ABI yields at the end of
// each stream, or every such stream would add its garbage to the heap for good.
func TestHeapReclaimedBetweenStreams(t *testing.T) {
	p, _ := newTestPlugin(t, wasmhost.WithVMs(1), wasmhost.WithLogLevel(wasmhost.LogInfo))
	ctx := context.Background()
	memory := func() uint64 {
		sizes, err := p.MemorySizes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return sizes[0]
	}
	var sizes []uint64
	for range 16 {
		s := newStream(t, p)
		mustStep(t, "request headers")(s.RequestHeaders(reqHeaders("garbage"), true))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, memory())
	}
	t.Logf("linear memory after each stream (MiB): %v", mibs(sizes))
	// Half the streams to reach the heap's working size (twice the 16 MiB live at GOGC 100),
	// then no more than one 4 MiB arena. Without the yield: 53 MiB after 8, 121 after 12.
	if grown := sizes[len(sizes)-1] - sizes[7]; grown > 4<<20 {
		t.Fatalf("linear memory grew %d MiB over the last 8 streams of 16 MiB garbage each: %v MiB",
			grown>>20, mibs(sizes))
	}
}

func mibs(b []uint64) []uint64 {
	out := make([]uint64, len(b))
	for i, v := range b {
		out[i] = v >> 20
	}
	return out
}
