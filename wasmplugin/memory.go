package wasmplugin

import (
	"runtime"
	"runtime/debug"
)

// Go GC targets of the plugin. A Wasm linear memory never gives back what it grew to, so a
// VM's memory is the peak of its Go heap, and Go's default target of 100 lets the heap reach
// twice the live data before each collection. While the CRS compiles, the default is kept:
// since expressions are neither parsed nor compiled at load, the load's garbage is small, and
// a lower target (10, before) cost a third of the load time for 2.5 MiB that a VM's first
// requests take anyway. For serving requests a lower target trades GC work for a lower peak.
// The figures behind these values are in docs/performance.md.
const (
	loadGCPercent   = 100 // while directive sets compile
	steadyGCPercent = 50  // afterwards, for the requests' garbage
)

// collectWhileLoading sets the load's GC target until the returned function is called, which
// collects the load's garbage once more and sets the target for serving requests.
func collectWhileLoading() (done func()) {
	debug.SetGCPercent(loadGCPercent)
	return func() {
		runtime.GC()
		debug.SetGCPercent(steadyGCPercent)
	}
}
