package bench

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestMeasureSidesInterleaves: after each side is sized on its own, every round runs each
// side once with its own count, in turn, and each side reports one of its rounds.
func TestMeasureSidesInterleaves(t *testing.T) {
	var calls []byte
	side := func(name byte, work time.Duration) func() error {
		return func() error {
			calls = append(calls, name)
			for start := time.Now(); time.Since(start) < work; {
			}
			return nil
		}
	}
	rs, err := measureSides(30*time.Millisecond, 3, side('a', 100*time.Microsecond), side('b', 300*time.Microsecond))
	if err != nil {
		t.Fatal(err)
	}
	na, nb := rs[0].Ops, rs[1].Ops
	if na < 1 || nb < 1 {
		t.Fatalf("counts %d and %d", na, nb)
	}
	// The two rounds after sizing: na calls of a, nb of b, twice, at the end of the sequence.
	round := strings.Repeat("a", na) + strings.Repeat("b", nb)
	if got := string(calls); !strings.HasSuffix(got, round+round) {
		t.Errorf("calls end %q, want two interleaved rounds %q", got[max(0, len(got)-2*len(round)):], round+round)
	}
	if n := strings.Count(string(calls), "a"); n <= 3*na {
		t.Errorf("a ran %d times: want its sizing runs and a warm-up before 3 rounds of %d", n, na)
	}
}

func TestMeasureSidesNamesTheFailingSide(t *testing.T) {
	boom := errors.New("boom")
	_, err := measureSides(time.Millisecond, 2, func() error { return nil }, func() error { return boom })
	var se *sideError
	if !errors.As(err, &se) || se.Side != 1 || !errors.Is(err, boom) {
		t.Fatalf("err = %v, want side 1's error", err)
	}
}

func TestMedianResult(t *testing.T) {
	for _, tc := range []struct {
		ns   []float64
		want float64
	}{
		{[]float64{5}, 5},
		{[]float64{9, 1, 5}, 5},
		{[]float64{4, 1, 3, 2}, 2},
		{[]float64{7, 7, 1}, 7},
	} {
		var rs []Result
		for i, ns := range tc.ns {
			rs = append(rs, Result{NsPerOp: ns, Ops: i})
		}
		if got := medianResult(rs); got.NsPerOp != tc.want {
			t.Errorf("median of %v = %v, want %v", tc.ns, got.NsPerOp, tc.want)
		}
		if rs[0].NsPerOp != tc.ns[0] {
			t.Errorf("medianResult reordered its argument")
		}
	}
}
