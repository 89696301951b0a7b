package soak_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/meshwaf/meshwaf/internal/soak"
	"github.com/meshwaf/meshwaf/internal/wasmtest"
)

// TestSoak is the soak at a size a test run affords (MESHWAF_SOAK_REQUESTS to change it);
// `go run mage.go soak` runs the full 1,000,000.
func TestSoak(t *testing.T) {
	m := wasmtest.Module(t, wasmtest.Plugin)
	n := 2400
	if v := os.Getenv("MESHWAF_SOAK_REQUESTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("MESHWAF_SOAK_REQUESTS=%q: %v", v, err)
		}
	}
	res, err := soak.Run(context.Background(), m, soak.Options{Requests: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s (%s, mix %v)", res.Line(), res.Elapsed, res.ByKind)
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
}
