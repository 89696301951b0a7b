package wasmplugin

import (
	"runtime"
	"runtime/debug"
)

// Go GC targets of the plugin. A Wasm linear memory never gives back what it grew to, so a
// VM's memory is the peak of its Go heap, and Go's default target of 100 lets the heap reach
// twice the live data (the compiled CRS) before each collection. Compiling the CRS also
// allocates several times what it keeps (rule files read and split, regular expressions and
// Aho-Corasick automata built). Lower targets trade GC work for a lower peak; the figures
// behind these values are in docs/performance.md.
const (
	loadGCPercent   = 10 // while directive sets compile
	steadyGCPercent = 50 // afterwards, for the requests' garbage
)

// collectWhileLoading lowers the GC target until the returned function is called, which
// collects the load's garbage once more and sets the target for serving requests.
func collectWhileLoading() (done func()) {
	debug.SetGCPercent(loadGCPercent)
	return func() {
		runtime.GC()
		debug.SetGCPercent(steadyGCPercent)
	}
}
