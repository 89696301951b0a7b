package bench

import (
	"cmp"
	"math"
	"runtime"
	"slices"
	"time"
)

// Result is one benchmark's figures, per operation.
type Result struct {
	NsPerOp     float64 `json:"ns_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	Ops         int     `json:"ops"`
}

// measure runs op as testing.B would, growing the count until a run lasts minTime, and returns
// the last run's figures; B/op and allocs/op count the Go heap of this process (for the wasm
// side: the host's, since the guest allocates inside its linear memory). An error from op
// stops the measurement.
func measure(minTime time.Duration, op func() error) (Result, error) {
	if err := op(); err != nil { // warm-up, and the first call's lazy work
		return Result{}, err
	}
	n := 1
	for {
		r, d, err := run(n, op)
		if err != nil || d >= minTime || n >= 1e9 {
			return r, err
		}
		// Aim 20% past minTime, at most 100x more, at least one more (testing's rule).
		next := n * 100
		if d > 0 {
			next = int(float64(n) * 1.2 * float64(minTime) / float64(d))
		}
		n = max(min(next, n*100), n+1)
	}
}

// run times n calls of op, after a GC.
func run(n int, op func() error) (Result, time.Duration, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range n {
		if err := op(); err != nil {
			return Result{}, 0, err
		}
	}
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	return Result{
		NsPerOp:     float64(d.Nanoseconds()) / float64(n),
		BytesPerOp:  float64(after.TotalAlloc-before.TotalAlloc) / float64(n),
		AllocsPerOp: float64(after.Mallocs-before.Mallocs) / float64(n),
		Ops:         n,
	}, d, nil
}

// sideError is a failure of one side of measureSides: Side indexes its sides.
type sideError struct {
	Side int
	Err  error
}

func (e *sideError) Error() string { return e.Err.Error() }
func (e *sideError) Unwrap() error { return e.Err }

// measureSides measures ways of doing the same work (the plugin in wazero, stock Coraza, the
// plugin's engine) in interleaved rounds, so that a slow spell of the machine falls on every
// side of a ratio instead of on whichever side was running: each side's count is sized for
// minTime/rounds (measure), then each further round runs every side once with that count, and
// each side reports its median round.
func measureSides(minTime time.Duration, rounds int, sides ...func() error) ([]Result, error) {
	rounds = max(rounds, 1)
	all := make([][]Result, len(sides))
	for i, op := range sides {
		r, err := measure(minTime/time.Duration(rounds), op)
		if err != nil {
			return nil, &sideError{Side: i, Err: err}
		}
		all[i] = append(all[i], r)
	}
	for range rounds - 1 {
		for i, op := range sides {
			r, _, err := run(all[i][0].Ops, op)
			if err != nil {
				return nil, &sideError{Side: i, Err: err}
			}
			all[i] = append(all[i], r)
		}
	}
	out := make([]Result, len(sides))
	for i := range all {
		out[i] = medianResult(all[i])
	}
	return out, nil
}

// medianResult is the result with the median ns/op (the lower middle one of an even count).
func medianResult(rs []Result) Result {
	sorted := slices.Clone(rs)
	slices.SortFunc(sorted, func(a, b Result) int { return cmp.Compare(a.NsPerOp, b.NsPerOp) })
	return sorted[(len(sorted)-1)/2]
}

// geomean is the geometric mean of positive values.
func geomean(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range v {
		s += math.Log(x)
	}
	return math.Exp(s / float64(len(v)))
}

// percentile returns the p-th percentile (0..100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}
