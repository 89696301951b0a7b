// Command testplugin is a small Proxy-Wasm plugin that exercises every part of the guest ABI,
// steered by the request header x-test-action, so host tests can check each host call's
// behaviour through a real compiled module.
//
// Every request gets x-abi-path (its :path) and x-abi-replaced: replaced added upstream, loses
// x-remove-me, and has its response carry x-abi-props (properties it read) and
// x-abi-request-count (a counter's value). Actions:
//
//	local-reply            418 "teapot" from the request headers
//	buffer-request-body    hold the request body to its end, send it upper-cased
//	buffer-response-body   hold the response body to its end, send it upper-cased
//	response-header-reply  403 from the response headers (replaces the upstream response)
//	response-body-reply    hold response headers and body; at its end answer 403 instead
//	pause-headers          pause request headers, continue from the first body chunk
//	panic                  a Go panic in the request headers (the ABI fails the stream closed)
//	exit                   os.Exit(3) in the request headers (the module is gone: a trap)
//	stack-overflow         unbounded recursion (the Go runtime aborts the module)
//	late-reply             let response headers through, then answer 403 from the body
//	close-stream           close the request stream from the request headers
//	set-property           set property meshwaf.x, read it back into x-abi-set-property
//	gauge                  gauge +5, -2, then record 10; its value in x-abi-gauge
//	response-trailers      add x-abi-response-trailer-seen to the response trailers
//	effective-context      read :path with the root context effective (NotFound expected),
//	                       then with the stream's; results in x-abi-effective-context
//	sleep                  sleep in the request headers: time.Sleep, a time.Timer, time.After and
//	                       a goroutine woken by a timer; the elapsed monotonic time (ms) in
//	                       x-abi-slept, each step's own check in x-abi-sleep
//	fs                     os.ReadDir("/"), os.Stat and os.ReadFile of host paths (a proxy VM has
//	                       no preopened directory: each must fail, not crash); results in x-abi-fs
//
// A plugin configuration of "fail" makes OnPluginStart fail with an error log line; the start
// line also shows ABITEST_ENV from the VM's environment, when set;
// "log-levels" logs one line per level and, built with tag abitest_loglevel, the host's log
// level. A configuration may also hold space-separated tick settings (see tickConfig):
// "tick=MS" sets the tick period, "tick-stop=N" sets it to 0 at this VM's Nth tick, and
// "tick-exit" exits the module (a trap) in the plugin's first tick across all its VMs.
//
// Every request headers callback marks the VM busy until it returns; a tick that finds it busy
// counts abitest.tick_overlaps, which a host that serialises calls into a VM never lets happen.
package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meshwaf/meshwaf/internal/abi"
)

func main() {}

func init() { abi.SetVMContext(&vmContext{}) }

type vmContext struct{}

func (*vmContext) OnVMStart(size int) bool {
	cfg, err := abi.VMConfiguration.Bytes(0, size)
	if err != nil {
		abi.Logf(abi.LogLevelError, "reading VM configuration: %v", err)
		return false
	}
	abi.Logf(abi.LogLevelInfo, "vm started with configuration %q", cfg)
	return true
}

func (*vmContext) NewPluginContext(id uint32) abi.PluginContext { return &pluginContext{id: id} }

type pluginContext struct {
	abi.DefaultPluginContext
	id                               uint32
	requests, streamsDone, bodyBytes abi.Metric
	ticks, tickOverlaps              abi.Metric
	tick                             tickConfig
	ticksHere                        int // ticks of this VM's root context
}

// vmID tells this VM's log lines from those of the plugin's other VMs (each VM is its own
// instance of the module, so each draws its own).
var vmID = fmt.Sprintf("%08x", rand.Uint32())

// inCallback is set while a request headers callback runs (see OnTick).
var inCallback bool

// tickConfig is what a plugin configuration asks of ticks.
type tickConfig struct {
	period time.Duration // 0: no ticks
	stopAt int           // set the period to 0 at this VM's stopAt-th tick (0: never)
	exit   bool          // os.Exit in the plugin's first tick
}

// parseTickConfig reads the tick settings among the configuration's space-separated words;
// other words are left to OnPluginStart.
func parseTickConfig(cfg string) (tickConfig, error) {
	var tc tickConfig
	for _, w := range strings.Fields(cfg) {
		key, val, _ := strings.Cut(w, "=")
		switch key {
		case "tick":
			ms, err := strconv.Atoi(val)
			if err != nil || ms < 0 {
				return tc, fmt.Errorf("tick=%q: want milliseconds", val)
			}
			tc.period = time.Duration(ms) * time.Millisecond
		case "tick-stop":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return tc, fmt.Errorf("tick-stop=%q: want a tick count", val)
			}
			tc.stopAt = n
		case "tick-exit":
			tc.exit = true
		}
	}
	return tc, nil
}

func (p *pluginContext) OnPluginStart(size int) bool {
	cfg, err := abi.PluginConfiguration.Bytes(0, size)
	if err != nil {
		abi.Logf(abi.LogLevelError, "reading plugin configuration: %v", err)
		return false
	}
	if string(cfg) == "log-levels" {
		for l := abi.LogLevelTrace; l <= abi.LogLevelCritical; l++ {
			abi.Logf(l, "log line at %s", l)
		}
		if line := hostLogLevel(); line != "" {
			abi.Log(abi.LogLevelCritical, line)
		}
	}
	if string(cfg) == "fail" {
		abi.Log(abi.LogLevelError, `plugin configuration "fail" refused`)
		return false
	}
	if p.requests, err = abi.DefineMetric(abi.MetricCounter, "abitest.requests_total"); err != nil {
		abi.Logf(abi.LogLevelError, "%v", err)
		return false
	}
	if p.streamsDone, err = abi.DefineMetric(abi.MetricCounter, "abitest.streams_done"); err != nil {
		abi.Logf(abi.LogLevelError, "%v", err)
		return false
	}
	if p.bodyBytes, err = abi.DefineMetric(abi.MetricHistogram, "abitest.request_body_bytes"); err != nil {
		abi.Logf(abi.LogLevelError, "%v", err)
		return false
	}
	if p.tick, err = parseTickConfig(string(cfg)); err != nil {
		abi.Logf(abi.LogLevelError, "plugin configuration: %v", err)
		return false
	}
	if p.tick.period > 0 {
		if p.ticks, err = abi.DefineMetric(abi.MetricCounter, "abitest.ticks"); err != nil {
			abi.Logf(abi.LogLevelError, "%v", err)
			return false
		}
		if p.tickOverlaps, err = abi.DefineMetric(abi.MetricCounter, "abitest.tick_overlaps"); err != nil {
			abi.Logf(abi.LogLevelError, "%v", err)
			return false
		}
		if err := abi.SetTickPeriod(p.tick.period); err != nil {
			abi.Logf(abi.LogLevelError, "set tick period: %v", err)
			return false
		}
	}
	abi.Logf(abi.LogLevelInfo, "plugin started with configuration %q", cfg)
	if v, ok := os.LookupEnv("ABITEST_ENV"); ok {
		abi.Logf(abi.LogLevelInfo, "VM environment has ABITEST_ENV=%q", v)
	}
	return true
}

// OnTick counts the tick in abitest.ticks (shared by the plugin's VMs), logs it with this VM's
// id, and acts on the tick settings.
func (p *pluginContext) OnTick() {
	p.ticksHere++
	// Logged before any metric is touched: a plugin that never asked for ticks has no tick
	// metrics, and a stray tick must still show in the log rather than only as a trap.
	abi.Logf(abi.LogLevelInfo, "on_tick called in vm %s (tick %d here)", vmID, p.ticksHere)
	if inCallback {
		// The host called into the VM while another call was in flight in it.
		must(p.tickOverlaps.Increment(1))
		abi.Logf(abi.LogLevelError, "tick %d in vm %s ran during a request callback", p.ticksHere, vmID)
	}
	must(p.ticks.Increment(1))
	total, err := p.ticks.Value()
	must(err)
	abi.Logf(abi.LogLevelInfo, "tick %d of root context %d in vm %s", p.ticksHere, p.id, vmID)
	if p.tick.exit && total == 1 {
		os.Exit(4)
	}
	if p.ticksHere == p.tick.stopAt {
		must(abi.SetTickPeriod(0))
		abi.Logf(abi.LogLevelInfo, "ticks stopped in vm %s", vmID)
	}
}

func (p *pluginContext) NewHTTPContext(id uint32) abi.HTTPContext {
	return &httpContext{plugin: p, id: id, rootID: p.id}
}

type httpContext struct {
	abi.DefaultHTTPContext
	plugin      *pluginContext
	id, rootID  uint32
	action      string
	requestBody int
	props       string
	effective   string
}

func (h *httpContext) OnRequestHeaders(numHeaders int, endOfStream bool) abi.Action {
	inCallback = true
	defer func() { inCallback = false }()
	pairs, err := abi.RequestHeaders.Pairs()
	must(err)
	if len(pairs) != numHeaders {
		abi.Logf(abi.LogLevelError, "host announced %d headers, map has %d", numHeaders, len(pairs))
	}
	h.action, _ = abi.RequestHeaders.Get("x-test-action")
	path, err := abi.RequestHeaders.Get(":path")
	must(err)
	abi.Logf(abi.LogLevelInfo, "request %s action=%q headers=%d end_of_stream=%t", path, h.action, numHeaders, endOfStream)
	must(h.plugin.requests.Increment(1))

	must(abi.RequestHeaders.Add("x-abi-path", path))
	must(abi.RequestHeaders.Replace("x-abi-replaced", "replaced"))
	must(abi.RequestHeaders.Remove("x-remove-me"))
	h.readProperties()

	switch h.action {
	case "local-reply":
		must(abi.SendLocalResponse(abi.LocalResponse{
			StatusCode: 418, Details: "abitest_teapot",
			Headers: []abi.Header{{Name: "content-type", Value: "text/plain"}, {Name: "x-abi-local", Value: "yes"}},
			Body:    []byte("teapot\n"), GRPCStatus: -1,
		}))
		return abi.ActionPause
	case "panic":
		panic("testplugin: panic requested")
	case "exit":
		os.Exit(3)
	case "stack-overflow":
		return abi.Action(recurse(1))
	case "garbage":
		abi.Logf(abi.LogLevelDebug, "garbage: %d nodes", len(garbage(16<<20)))
	case "pause-headers":
		return abi.ActionPause
	case "close-stream":
		must(abi.CloseStream(abi.StreamRequest))
	case "set-property":
		must(abi.SetProperty([]byte("v"), "meshwaf", "x"))
	case "sleep":
		slept, checks := sleepEveryWay()
		must(abi.RequestHeaders.Add("x-abi-slept", strconv.FormatInt(slept.Milliseconds(), 10)))
		must(abi.RequestHeaders.Add("x-abi-sleep", checks))
	case "fs":
		must(abi.RequestHeaders.Add("x-abi-fs", touchFiles()))
	case "effective-context":
		must(abi.SetEffectiveContext(h.rootID))
		_, errRoot := abi.RequestHeaders.Get(":path")
		must(abi.SetEffectiveContext(h.id))
		p, errStream := abi.RequestHeaders.Get(":path")
		h.effective = fmt.Sprintf("root:%v stream:%s/%v", errRoot, p, errStream)
	}
	return abi.ActionContinue
}

// garbage builds about n bytes of small linked objects, live until the callback returns, as a
// transaction over a large body holds its variables: the heap the GC must reclaim afterwards.
func garbage(n int) []*garbageNode {
	var nodes []*garbageNode
	var prev *garbageNode
	for size := 0; size < n; size += 64 {
		prev = &garbageNode{next: prev, value: strconv.Itoa(size)}
		nodes = append(nodes, prev)
	}
	return nodes
}

type garbageNode struct {
	next  *garbageNode
	value string
	pad   [4]int64
}

// sleepEveryWay waits in each way a Go program waits for time: the runtime parks the goroutine
// and, with nothing else to run, sleeps through WASI poll_oneoff (which the build defines in
// the module for hosts whose own answers ENOSYS; see internal/wasmbuild). It returns the
// elapsed monotonic time and, per step, whether it waited at least as long as asked.
func sleepEveryWay() (time.Duration, string) {
	start := time.Now()
	var checks []string
	step := func(name string, d time.Duration, wait func()) {
		t0 := time.Now()
		wait()
		checks = append(checks, fmt.Sprintf("%s:%t", name, time.Since(t0) >= d))
	}
	step("sleep", 3*time.Millisecond, func() { time.Sleep(3 * time.Millisecond) })
	step("timer", 2*time.Millisecond, func() {
		t := time.NewTimer(2 * time.Millisecond)
		<-t.C
	})
	step("after", time.Millisecond, func() { <-time.After(time.Millisecond) })
	step("goroutine", time.Millisecond, func() {
		done := make(chan struct{})
		time.AfterFunc(time.Millisecond, func() { close(done) })
		<-done
	})
	return time.Since(start), strings.Join(checks, ",")
}

// touchFiles tries the file system calls a library might make; a proxy VM has no preopened
// directory, and the build stubs the WASI functions older hosts lack (ENOSYS), so each must
// return an error. It reports "name:ok", "name:ENOSYS" (the call reached such a stub: os.Stat
// goes through path_filestat_get) or "name:error" per call.
func touchFiles() string {
	var out []string
	report := func(name string, err error) {
		switch {
		case err == nil:
			out = append(out, name+":ok")
			return
		case errors.Is(err, syscall.ENOSYS):
			out = append(out, name+":ENOSYS")
		default:
			out = append(out, name+":error")
		}
		abi.Logf(abi.LogLevelDebug, "fs %s: %v", name, err)
	}
	_, err := os.ReadDir("/")
	report("readdir", err)
	_, err = os.Stat("/etc/hosts")
	report("stat", err)
	_, err = os.ReadFile("/etc/passwd")
	report("readfile", err)
	f, err := os.Create("/tmp/meshwaf-abitest")
	if err == nil {
		f.Close()
	}
	report("create", err)
	return strings.Join(out, ",")
}

func recurse(n int) int {
	var pad [256]byte
	pad[n%256] = byte(n)
	return recurse(n+1) + int(pad[0])
}

// readProperties records the properties the host offers, and checks an unknown one is
// NotFound rather than a failure.
func (h *httpContext) readProperties() {
	var b strings.Builder
	for _, path := range [][]string{
		{"source", "address"}, {"destination", "address"}, {"request", "protocol"},
		{"request", "id"}, {"request", "path"}, {"request", "host"}, {"plugin_name"}, {"plugin_root_id"},
	} {
		v, err := abi.PropertyString(path...)
		if err != nil {
			v = "error:" + err.Error()
		}
		fmt.Fprintf(&b, "%s=%s;", strings.Join(path, "."), v)
	}
	for _, path := range [][]string{{"source", "port"}, {"destination", "port"}} {
		v, err := abi.PropertyInt(path...)
		if err != nil {
			fmt.Fprintf(&b, "%s=error:%v;", strings.Join(path, "."), err)
			continue
		}
		fmt.Fprintf(&b, "%s=%d;", strings.Join(path, "."), v)
	}
	if _, err := abi.Property("no", "such", "property"); err == nil {
		b.WriteString("unknown=found;")
	} else {
		fmt.Fprintf(&b, "unknown=%v;", err)
	}
	h.props = b.String()
}

func (h *httpContext) OnRequestBody(size int, endOfStream bool) abi.Action {
	switch h.action {
	case "pause-headers":
		must(abi.ContinueStream(abi.StreamRequest))
		return abi.ActionContinue
	case "buffer-request-body":
		if !endOfStream {
			return abi.ActionPause
		}
		body, err := abi.RequestBody.Bytes(0, size)
		must(err)
		h.requestBody = len(body)
		must(h.plugin.bodyBytes.Record(uint64(len(body))))
		must(abi.RequestBody.Replace(bytes.ToUpper(body)))
	}
	return abi.ActionContinue
}

func (h *httpContext) OnRequestTrailers(n int) abi.Action {
	pairs, err := abi.RequestTrailers.Pairs()
	must(err)
	abi.Logf(abi.LogLevelInfo, "request trailers: %d announced, %d read", n, len(pairs))
	must(abi.RequestTrailers.Add("x-abi-trailer-seen", fmt.Sprint(len(pairs))))
	return abi.ActionContinue
}

func (h *httpContext) OnResponseHeaders(numHeaders int, endOfStream bool) abi.Action {
	status, err := abi.ResponseHeaders.Get(":status")
	must(err)
	must(abi.ResponseHeaders.Add("x-abi-props", h.props))
	n, err := h.plugin.requests.Value()
	must(err)
	must(abi.ResponseHeaders.Add("x-abi-request-count", fmt.Sprint(n)))
	must(abi.ResponseHeaders.Add("x-abi-upstream-status", status))
	switch h.action {
	case "set-property":
		v, err := abi.PropertyString("meshwaf", "x")
		must(err)
		must(abi.ResponseHeaders.Add("x-abi-set-property", v))
	case "gauge":
		g, err := abi.DefineMetric(abi.MetricGauge, "abitest.gauge")
		must(err)
		must(g.Increment(5))
		must(g.Increment(-2))
		after, err := g.Value()
		must(err)
		must(g.Record(10))
		v, err := g.Value()
		must(err)
		must(abi.ResponseHeaders.Add("x-abi-gauge", fmt.Sprintf("%d,%d", after, v)))
	case "effective-context":
		must(abi.ResponseHeaders.Add("x-abi-effective-context", h.effective))
	case "response-header-reply":
		must(abi.SendLocalResponse(abi.LocalResponse{
			StatusCode: 403, Details: "abitest_response_headers",
			Body: []byte("blocked at response headers\n"), GRPCStatus: -1,
		}))
		return abi.ActionPause
	case "response-body-reply", "buffer-response-body":
		if !endOfStream {
			// Hold the headers until the body is seen, so a reply can still replace them.
			return abi.ActionPause
		}
	}
	return abi.ActionContinue
}

func (h *httpContext) OnResponseBody(size int, endOfStream bool) abi.Action {
	switch h.action {
	case "late-reply":
		must(abi.SendLocalResponse(abi.LocalResponse{
			StatusCode: 403, Details: "abitest_late_reply",
			Body: []byte("too late to replace the response\n"), GRPCStatus: -1,
		}))
		return abi.ActionPause
	case "response-body-reply":
		if !endOfStream {
			return abi.ActionPause
		}
		must(abi.SendLocalResponse(abi.LocalResponse{
			StatusCode: 403, Details: "abitest_response_body",
			Body: []byte("blocked at response body\n"), GRPCStatus: -1,
		}))
		return abi.ActionPause
	case "buffer-response-body":
		if !endOfStream {
			return abi.ActionPause
		}
		body, err := abi.ResponseBody.Bytes(0, size)
		must(err)
		must(abi.ResponseBody.Replace(bytes.ToUpper(body)))
	}
	return abi.ActionContinue
}

func (h *httpContext) OnResponseTrailers(n int) abi.Action {
	if h.action == "response-trailers" {
		must(abi.ResponseTrailers.Add("x-abi-response-trailer-seen", fmt.Sprint(n)))
	}
	return abi.ActionContinue
}

func (h *httpContext) OnStreamDone() {
	must(h.plugin.streamsDone.Increment(1))
	abi.Logf(abi.LogLevelInfo, "stream %d done", h.id)
}

// must turns a host-call failure into a panic, which the ABI layer turns into a failed-closed
// stream and a critical log line naming it: a test then sees exactly which call failed.
func must(err error) {
	if err != nil {
		panic(err)
	}
}
