package wasmplugin

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	runtimemetrics "runtime/metrics"
	"strconv"
)

// Go GC targets of the plugin. A Wasm linear memory never gives back what it grew to, so a
// VM's memory is the peak of its Go heap, and Go's default target of 100 lets the heap reach
// twice the live data before each collection. While the CRS compiles, the default is kept:
// since expressions are neither parsed nor compiled at load, the load's garbage is small, and
// a lower target (10, before) cost a third of the load time for 2.5 MiB that a VM's first
// requests take anyway. For serving requests a lower target trades GC work for a lower peak.
// The figures behind these values are in docs/performance.md.
//
// A GOGC set in the VM's environment (Envoy's vm_config.environment_variables, Istio's
// WasmPlugin vmConfig.env) is the operator's choice and wins over both; GOMEMLIMIT is applied
// by the Go runtime itself, and the plugin never changes it.
const (
	loadGCPercent   = 100 // while directive sets compile
	steadyGCPercent = 50  // afterwards, for the requests' garbage
)

// gogcEnv is the environment variable the Go runtime reads its GC target from.
const gogcEnv = "GOGC"

// checkGOGC refuses a GOGC the Go runtime would silently replace by 100. The runtime
// (runtime.readGOGC) takes "off" or what strconv.ParseInt(v, 10, 32) accepts, a negative value
// meaning off, and treats empty as unset; so does this check.
func checkGOGC() error {
	v := os.Getenv(gogcEnv)
	if v == "" || v == "off" {
		return nil
	}
	if _, err := strconv.ParseInt(v, 10, 32); err != nil {
		return fmt.Errorf("%s=%q in the VM environment: want a 32-bit integer percentage or \"off\"", gogcEnv, v)
	}
	return nil
}

// collectWhileLoading sets the load's GC target until the returned function is called, which
// collects the load's garbage once more and sets the target for serving requests. With GOGC
// in the VM environment it only collects.
func collectWhileLoading() (done func()) {
	if os.Getenv(gogcEnv) != "" {
		return runtime.GC
	}
	debug.SetGCPercent(loadGCPercent)
	return func() {
		runtime.GC()
		debug.SetGCPercent(steadyGCPercent)
	}
}

// gcSettings are the GC settings in effect, read back from the runtime: what a VM's memory
// and per-request cost depend on.
type gcSettings struct {
	percent int64  // the GC target; negative: off
	limit   uint64 // the memory limit in bytes; 0: none
	fromEnv string // GOGC from the VM environment, empty when the plugin's targets apply
}

func readGCSettings() gcSettings {
	samples := []runtimemetrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	runtimemetrics.Read(samples)
	g := gcSettings{percent: -1, fromEnv: os.Getenv(gogcEnv)}
	if p := samples[0].Value; p.Kind() == runtimemetrics.KindUint64 && p.Uint64() < 1<<31 {
		g.percent = int64(p.Uint64())
	}
	if b := samples[1].Value; b.Kind() == runtimemetrics.KindUint64 && b.Uint64() < math.MaxInt64 {
		g.limit = b.Uint64()
	}
	return g
}

// String is the start log line's description.
func (g gcSettings) String() string {
	target := "off"
	if g.percent >= 0 {
		target = strconv.FormatInt(g.percent, 10) + "%"
	}
	source := "meshwaf's default; GOGC in the VM environment overrides it"
	if g.fromEnv != "" {
		source = gogcEnv + "=" + g.fromEnv + " from the VM environment"
	}
	limit := "no memory limit"
	if g.limit > 0 {
		limit = fmt.Sprintf("memory limit %.1f MiB (GOMEMLIMIT)", float64(g.limit)/(1<<20))
	}
	return fmt.Sprintf("Go GC target %s (%s), %s", target, source, limit)
}

// warning is the start-up warning for settings under which a VM's memory only grows: with
// the GC off and no memory limit the heap is never collected, and Wasm memory never shrinks.
func (g gcSettings) warning() string {
	if g.percent >= 0 || g.limit > 0 {
		return ""
	}
	return fmt.Sprintf("%s=%s without GOMEMLIMIT in the VM environment: the heap is never collected, and the VM's memory grows with every request", gogcEnv, g.fromEnv)
}
