package bench

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/corazawaf/coraza/v3"

	"github.com/meshwaf/meshwaf/wasmhost"
)

const mib = 1 << 20

// Options bound one measurement run.
type Options struct {
	Wasm     string        // path of meshwaf.wasm
	Out      string        // where to write the JSON report ("" for none)
	Soak     int           // requests of the mixed soak (-n)
	SoakTime time.Duration // bound on the soak's time (-soaktime)
	Cases    string        // regexp selecting corpus cases (-cases)
	BenchMin time.Duration // minimum time per ns/op figure, split over Rounds for the corpus (-benchtime)
	Rounds   int           // interleaved rounds per corpus case (-rounds)
	HTTPTime time.Duration // load time per HTTP mode (-http)
	HTTPConc int           // concurrent HTTP clients (-c)
	Workers  int           // runner VMs for the HTTP load (-workers)
	V8N      int           // benign GETs timed in V8 (-v8n); 0 skips V8
	Node     string        // node binary (-node)
	Sweep    bool          // request body cost per KB (-sweep)
	Log      io.Writer     // progress
}

// ParseArgs reads BENCH_ARGS-style flags.
func ParseArgs(args []string) (Options, error) {
	o := Options{Log: os.Stderr}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.Wasm, "wasm", "build/meshwaf.wasm", "module to measure")
	fs.StringVar(&o.Out, "out", "build/bench.json", "JSON report")
	fs.IntVar(&o.Soak, "n", 100000, "requests in the mixed soak")
	fs.DurationVar(&o.SoakTime, "soaktime", 3*time.Minute, "stop the soak after this long even before -n requests")
	fs.StringVar(&o.Cases, "cases", "", "regexp: measure only the corpus cases it matches")
	fs.DurationVar(&o.BenchMin, "benchtime", time.Second, "minimum time per ns/op figure, split over -rounds for the corpus")
	fs.IntVar(&o.Rounds, "rounds", 3, "interleaved rounds per corpus case (wasm, native, engine), each side's median reported")
	fs.DurationVar(&o.HTTPTime, "http", 5*time.Second, "load time per HTTP mode (0 skips)")
	fs.IntVar(&o.HTTPConc, "c", 4, "concurrent HTTP clients")
	fs.IntVar(&o.Workers, "workers", 2, "runner VMs for the HTTP load")
	fs.IntVar(&o.V8N, "v8n", 2000, "benign GETs timed in V8 (0 skips V8)")
	fs.StringVar(&o.Node, "node", "node", "node binary for the V8 figure")
	fs.BoolVar(&o.Sweep, "sweep", true, "measure request body cost per KB")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	return o, nil
}

// CaseReport is one corpus entry on both sides.
// Ratio is Wasm against stock Coraza, the figure the goals are set in. It splits into Work
// (the plugin's engine natively against stock Coraza: how much of stock Coraza's work the
// plugin's operators and actions leave) times WasmFactor (the plugin in Wasm against the same engine
// natively: what Wasm in wazero costs on top of the same code).
type CaseReport struct {
	Name       string  `json:"name"`
	Wasm       Result  `json:"wasm"`
	Native     Result  `json:"native"`
	Engine     Result  `json:"engine"`
	Ratio      float64 `json:"ratio"`
	Work       float64 `json:"work"`
	WasmFactor float64 `json:"wasm_factor"`
}

// HTTPReport is one load run through the local runner.
type HTTPReport struct {
	Mode     string  `json:"mode"`
	Requests int     `json:"requests"`
	RPS      float64 `json:"rps"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
}

// BodyPoint is the cost of an urlencoded POST of a given size.
type BodyPoint struct {
	Bytes    int     `json:"bytes"`
	WasmMs   float64 `json:"wasm_ms"`
	NativeMs float64 `json:"native_ms"`
}

// Report is build/bench.json.
type Report struct {
	RatioBenignGet        float64      `json:"ratio_benign_get"`
	RatioMixed            float64      `json:"ratio_mixed"`
	WorkMixed             float64      `json:"work_mixed"`
	WasmFactorMixed       float64      `json:"wasm_factor_mixed"`
	RatioBenignGetV8      float64      `json:"ratio_benign_get_v8,omitempty"`
	CRSLoadMsWasm         float64      `json:"crs_load_ms_wasm"`
	CRSLoadMsNative       float64      `json:"crs_load_ms_native"`
	CRSLoadMsEngine       float64      `json:"crs_load_ms_engine"`
	CRSLoadMsV8           float64      `json:"crs_load_ms_v8,omitempty"`
	VMMemoryMiBAfterLoad  float64      `json:"vm_memory_mib_after_load"`
	VMMemoryMiBAfterSoak  float64      `json:"vm_memory_mib_after_soak"`
	VMMemoryMiBSoakHalf   float64      `json:"vm_memory_mib_soak_half"`
	VMMemoryGrowsInSoak   bool         `json:"vm_memory_grows_in_soak"`
	VMMemoryMiBAfterSweep float64      `json:"vm_memory_mib_after_body_sweep,omitempty"`
	V8MemoryMiBAfterLoad  float64      `json:"v8_memory_mib_after_load,omitempty"`
	SoakRequests          int          `json:"soak_requests"`
	SoakSeconds           float64      `json:"soak_seconds"`
	ModuleBytes           int64        `json:"module_bytes"`
	ModuleGzipBytes       int64        `json:"module_gzip_bytes"`
	BenignGetNsWasm       float64      `json:"benign_get_ns_wasm"`
	BenignGetNsNative     float64      `json:"benign_get_ns_native"`
	BenignGetNsV8         float64      `json:"benign_get_ns_v8,omitempty"`
	V8Error               string       `json:"v8_error,omitempty"`
	WasmUsPerKBBody       float64      `json:"wasm_us_per_kb_body,omitempty"`
	NativeUsPerKBBody     float64      `json:"native_us_per_kb_body,omitempty"`
	Cases                 []CaseReport `json:"cases"`
	BodySweep             []BodyPoint  `json:"body_sweep,omitempty"`
	HTTP                  []HTTPReport `json:"http,omitempty"`
	HTTPThroughputRatio   float64      `json:"http_throughput_ratio,omitempty"`
	Started               time.Time    `json:"started"`
	Seconds               float64      `json:"seconds"`
}

// MarshalJSON writes the report with ratio_<case>, work_<case> and wasm_factor_<case> keys
// per corpus entry besides the fields (ratio_benign_get is the first), so every case's gap,
// and what it is made of, stays visible at the top level.
func (r Report) MarshalJSON() ([]byte, error) {
	type fields Report // without this method
	b, err := json.Marshal(fields(r))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, c := range r.Cases {
		m["ratio_"+c.Name] = c.Ratio
		m["work_"+c.Name] = c.Work
		m["wasm_factor_"+c.Name] = c.WasmFactor
	}
	return json.Marshal(m)
}

func (o *Options) logf(format string, args ...any) {
	if o.Log != nil {
		fmt.Fprintf(o.Log, "bench: "+format+"\n", args...)
	}
}

// Run measures everything once. The order matters: native Coraza loads first, since Coraza
// shares compiled regexes between WAFs of a process, and a later load would be a warm one.
func Run(ctx context.Context, o Options) (*Report, error) {
	r := &Report{Started: time.Now()}
	raw, err := os.ReadFile(o.Wasm)
	if err != nil {
		return nil, err
	}
	r.ModuleBytes = int64(len(raw))
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	_, _ = zw.Write(raw)
	_ = zw.Close()
	r.ModuleGzipBytes = int64(gz.Len())

	start := time.Now()
	waf, err := NewNativeWAF(Directives)
	if err != nil {
		return nil, fmt.Errorf("native WAF: %w", err)
	}
	r.CRSLoadMsNative = ms(time.Since(start))
	// The engine can only compile second (registration is process-wide), on a warm process:
	// its load time reads low, by about a fifth against a first compile.
	start = time.Now()
	engine, err := NewNativeEngineWAF(Directives)
	if err != nil {
		return nil, fmt.Errorf("the plugin's engine, natively: %w", err)
	}
	r.CRSLoadMsEngine = ms(time.Since(start))

	mod, err := wasmhost.CompileFile(ctx, o.Wasm)
	if err != nil {
		return nil, err
	}
	defer mod.Close(ctx)
	// Five loads give a median on a busy machine; each starts after a host GC, so that the
	// host collecting the previous VM's memory is not timed as this VM's load.
	var loads []float64
	var plugin *wasmhost.Plugin
	for range 5 {
		runtime.GC()
		start := time.Now()
		p, err := mod.NewPlugin(ctx, wasmhost.WithPluginConfig(PluginConfig(Directives)))
		if err != nil {
			return nil, err
		}
		loads = append(loads, ms(time.Since(start)))
		if plugin != nil {
			_ = plugin.Close(ctx)
		}
		plugin = p
	}
	defer plugin.Close(ctx)
	sort.Float64s(loads)
	r.CRSLoadMsWasm = loads[1]
	sizes, err := plugin.MemorySizes(ctx)
	if err != nil {
		return nil, err
	}
	r.VMMemoryMiBAfterLoad = float64(sizes[0]) / mib
	o.logf("CRS load: wasm %.0f ms (median of %v), native %.0f ms (the plugin's engine %.0f ms); VM memory %.1f MiB",
		r.CRSLoadMsWasm, loads, r.CRSLoadMsNative, r.CRSLoadMsEngine, r.VMMemoryMiBAfterLoad)

	corpus := Corpus()
	if o.Cases != "" {
		re, err := regexp.Compile(o.Cases)
		if err != nil {
			return nil, fmt.Errorf("-cases: %w", err)
		}
		corpus = slices.DeleteFunc(corpus, func(c Case) bool { return !re.MatchString(c.Name) })
	}
	for i := range corpus {
		if err := check(ctx, plugin, waf, engine, &corpus[i]); err != nil {
			return nil, err
		}
	}
	var ratios, works, factors []float64
	for i := range corpus {
		c := &corpus[i]
		rs, err := measureSides(o.BenchMin, o.Rounds,
			func() error { _, err := Wasm(ctx, plugin, c); return err },
			func() error { _, err := Native(waf, c); return err },
			func() error { _, err := Native(engine, c); return err })
		if se := (*sideError)(nil); errors.As(err, &se) {
			return nil, fmt.Errorf("%s (%s): %w", c.Name, []string{"wasm", "native", "the plugin's engine, natively"}[se.Side], se.Err)
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		wr, nr, er := rs[0], rs[1], rs[2]
		cr := CaseReport{Name: c.Name, Wasm: wr, Native: nr, Engine: er,
			Ratio: wr.NsPerOp / nr.NsPerOp, Work: er.NsPerOp / nr.NsPerOp, WasmFactor: wr.NsPerOp / er.NsPerOp}
		r.Cases = append(r.Cases, cr)
		ratios, works, factors = append(ratios, cr.Ratio), append(works, cr.Work), append(factors, cr.WasmFactor)
		o.logf("%-22s wasm %10.0f ns/op  native %10.0f ns/op  ratio %.2f  (the plugin's engine natively %10.0f ns/op: work %.2f x wasm factor %.2f)",
			c.Name, wr.NsPerOp, nr.NsPerOp, cr.Ratio, er.NsPerOp, cr.Work, cr.WasmFactor)
		if c.Name == "benign_get" {
			r.RatioBenignGet = cr.Ratio
			r.BenignGetNsWasm, r.BenignGetNsNative = wr.NsPerOp, nr.NsPerOp
		}
	}
	r.RatioMixed, r.WorkMixed, r.WasmFactorMixed = geomean(ratios), geomean(works), geomean(factors)

	if o.V8N > 0 {
		v8, err := runV8(ctx, o)
		if err != nil {
			r.V8Error = err.Error()
			o.logf("V8: %v", err)
		} else {
			r.BenignGetNsV8, r.CRSLoadMsV8, r.V8MemoryMiBAfterLoad = v8.NsPerOp, v8.LoadMs, float64(v8.MemoryBytes)/mib
			r.RatioBenignGetV8 = v8.NsPerOp / r.BenignGetNsNative
			o.logf("V8: benign GET %.0f ns/op (ratio %.2f), CRS load %.0f ms, memory %.1f MiB",
				v8.NsPerOp, r.RatioBenignGetV8, v8.LoadMs, r.V8MemoryMiBAfterLoad)
		}
	}

	if err := soak(ctx, o, r, plugin, corpus); err != nil {
		return nil, err
	}
	// The sweep's large bodies grow the VM far past the soak's figure, so it runs after the soak
	// and its memory is reported on its own.
	if o.Sweep {
		if err := bodySweep(ctx, o, r, plugin, waf); err != nil {
			return nil, err
		}
		sizes, err := plugin.MemorySizes(ctx)
		if err != nil {
			return nil, err
		}
		r.VMMemoryMiBAfterSweep = float64(sizes[0]) / mib
	}

	if o.HTTPTime > 0 {
		if err := httpLoad(ctx, o, r); err != nil {
			return nil, fmt.Errorf("HTTP load: %w", err)
		}
	}
	r.Seconds = time.Since(r.Started).Seconds()
	if o.Out != "" {
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(o.Out, append(b, '\n'), 0o644); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// soak sends up to o.Soak requests (for at most o.SoakTime) round-robin over the corpus
// through one VM, reading its memory after each request of the first and of the second half:
// growth in the second half would be a leak, not warm-up.
func soak(ctx context.Context, o Options, r *Report, p *wasmhost.Plugin, corpus []Case) error {
	start := time.Now()
	n, half := 0, false
	for ; n < o.Soak && time.Since(start) < o.SoakTime; n++ {
		if _, err := Wasm(ctx, p, &corpus[n%len(corpus)]); err != nil {
			return fmt.Errorf("soak request %d: %w", n, err)
		}
		if !half && (n >= o.Soak/2 || time.Since(start) >= o.SoakTime/2) {
			half = true
			sizes, err := p.MemorySizes(ctx)
			if err != nil {
				return err
			}
			r.VMMemoryMiBSoakHalf = float64(sizes[0]) / mib
		}
	}
	r.SoakRequests, r.SoakSeconds = n, time.Since(start).Seconds()
	sizes, err := p.MemorySizes(ctx)
	if err != nil {
		return err
	}
	r.VMMemoryMiBAfterSoak = float64(sizes[0]) / mib
	r.VMMemoryGrowsInSoak = r.VMMemoryMiBAfterSoak > r.VMMemoryMiBSoakHalf
	o.logf("soak: %d requests in %.1f s; VM memory %.1f MiB at half, %.1f MiB at the end",
		n, r.SoakSeconds, r.VMMemoryMiBSoakHalf, r.VMMemoryMiBAfterSoak)
	return nil
}

// bodySweep measures urlencoded POSTs of growing size; the slope is the cost per KB.
func bodySweep(ctx context.Context, o Options, r *Report, p *wasmhost.Plugin, nw coraza.WAF) error {
	for _, kb := range []int{1, 16, 64, 140} {
		c := FormCase(kb * 1024)
		wr, err := measure(o.BenchMin, func() error { _, err := Wasm(ctx, p, &c); return err })
		if err != nil {
			return fmt.Errorf("%s (wasm): %w", c.Name, err)
		}
		nr, err := measure(o.BenchMin, func() error { _, err := Native(nw, &c); return err })
		if err != nil {
			return fmt.Errorf("%s (native): %w", c.Name, err)
		}
		r.BodySweep = append(r.BodySweep, BodyPoint{Bytes: len(c.Body), WasmMs: wr.NsPerOp / 1e6, NativeMs: nr.NsPerOp / 1e6})
		o.logf("%-22s wasm %8.2f ms  native %8.2f ms", c.Name, wr.NsPerOp/1e6, nr.NsPerOp/1e6)
	}
	first, last := r.BodySweep[0], r.BodySweep[len(r.BodySweep)-1]
	kb := float64(last.Bytes-first.Bytes) / 1024
	r.WasmUsPerKBBody = (last.WasmMs - first.WasmMs) * 1000 / kb
	r.NativeUsPerKBBody = (last.NativeMs - first.NativeMs) * 1000 / kb
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// PrintTable writes the report as a table.
func PrintTable(w io.Writer, r *Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "case\twasm ns/op\twasm B/op\twasm allocs/op\tnative ns/op\tnative B/op\tnative allocs/op\twasm/native\tengine ns/op\twork\twasm factor\t")
	for _, c := range r.Cases {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f\t%.0f\t%.2f\t%.2f\t\n", c.Name,
			c.Wasm.NsPerOp, c.Wasm.BytesPerOp, c.Wasm.AllocsPerOp, c.Native.NsPerOp, c.Native.BytesPerOp, c.Native.AllocsPerOp, c.Ratio,
			c.Engine.NsPerOp, c.Work, c.WasmFactor)
	}
	fmt.Fprintf(tw, "geometric mean\t\t\t\t\t\t\t%.2f\t\t%.2f\t%.2f\t\n", r.RatioMixed, r.WorkMixed, r.WasmFactorMixed)
	tw.Flush()
	fmt.Fprintln(w, "engine: native Coraza with the plugin's operators and actions (internal/engine); work = engine/native; wasm factor = wasm/engine")
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	row("ratio_benign_get", "%.2f", r.RatioBenignGet)
	row("ratio_mixed", "%.2f", r.RatioMixed)
	row("work_mixed", "%.2f  (the plugin's engine natively / stock Coraza)", r.WorkMixed)
	row("wasm_factor_mixed", "%.2f  (the plugin in wazero / its engine natively)", r.WasmFactorMixed)
	if r.V8Error == "" && r.BenignGetNsV8 > 0 {
		row("ratio_benign_get_v8", "%.2f  (%.0f ns/op in V8)", r.RatioBenignGetV8, r.BenignGetNsV8)
		row("crs_load_ms_v8", "%.0f", r.CRSLoadMsV8)
	} else if r.V8Error != "" {
		row("ratio_benign_get_v8", "not measured: %s", r.V8Error)
	}
	row("crs_load_ms_wasm", "%.0f", r.CRSLoadMsWasm)
	row("crs_load_ms_native", "%.0f  (the plugin's engine, compiled second: %.0f)", r.CRSLoadMsNative, r.CRSLoadMsEngine)
	row("vm_memory_mib_after_load", "%.1f", r.VMMemoryMiBAfterLoad)
	row("vm_memory_mib_after_soak", "%.1f  (%.1f at half of %d requests; grows in second half: %v)",
		r.VMMemoryMiBAfterSoak, r.VMMemoryMiBSoakHalf, r.SoakRequests, r.VMMemoryGrowsInSoak)
	row("module_bytes", "%d (%.1f MiB)", r.ModuleBytes, float64(r.ModuleBytes)/mib)
	row("module_gzip_bytes", "%d (%.1f MiB)", r.ModuleGzipBytes, float64(r.ModuleGzipBytes)/mib)
	if len(r.BodySweep) > 0 {
		row("body cost per KB (urlencoded)", "wasm %.0f µs, native %.0f µs", r.WasmUsPerKBBody, r.NativeUsPerKBBody)
		row("vm_memory_mib_after_body_sweep", "%.1f", r.VMMemoryMiBAfterSweep)
	}
	for _, h := range r.HTTP {
		row("http "+h.Mode, "%.0f req/s, p50 %.2f ms, p99 %.2f ms (%d requests)", h.RPS, h.P50Ms, h.P99Ms, h.Requests)
	}
	if r.HTTPThroughputRatio > 0 {
		row("http throughput with/without WAF", "%.2f", r.HTTPThroughputRatio)
	}
	tw.Flush()
}
