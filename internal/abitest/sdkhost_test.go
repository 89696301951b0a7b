//go:build !wasip1

// These tests are host-side (they build the plugin and drive it in wazero); the constraint
// keeps `GOOS=wasip1 go vet ./...` from compiling them, and wasmbuild's file lock, for wasm.
package abitest

import (
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/meshwaf/meshwaf/internal/wasmbin"
	"github.com/meshwaf/meshwaf/internal/wasmbuild"
)

// These tests run the compiled test plugin in a second, independent host: the emulator of the
// Proxy-Wasm Go SDK (github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest), which
// drives a real module in wazero. It was written against the TinyGo SDK, not against our
// guest, so agreement here is evidence our guest follows the ABI rather than our own host's
// reading of it. Where the two hosts differ, docs/hosts-compared.md says who follows the spec
// and Envoy; the TestSDKEmulatorQuirk* tests pin those differences so a change in either
// side shows up.
//
// The emulator keeps global state (one mock host per process), so these tests never run in
// parallel.

const testPluginPkg = "github.com/meshwaf/meshwaf/internal/abitest/testplugin"

// sdkModule is the test plugin with `_initialize` exported as `_start`: the emulator
// instantiates with wazero's defaults, which run `_start` and never `_initialize`, and a Go
// reactor must be initialised before its first callback.
var sdkModule = sync.OnceValues(func() ([]byte, error) { return forSDKEmulator(testPluginPkg) })

// forSDKEmulator builds the main package pkg and presents it to the emulator: checked for
// imports the emulator lacks, `_initialize` renamed `_start`.
func forSDKEmulator(pkg string) ([]byte, error) {
	path, err := wasmbuild.Build(wasmbuild.Options{Package: pkg})
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := checkSDKImports(raw); err != nil {
		return nil, err
	}
	return wasmbin.RenameExport(raw, "_initialize", "_start")
}

// sdkEmulatorImports are the env functions the SDK emulator (v0.24.0) provides. Envoy provides
// more (proxy_get_log_level, proxy_get_current_time_nanoseconds, proxy_get_header_map_size…);
// a module importing one of those cannot load in the emulator.
var sdkEmulatorImports = []string{
	"proxy_log", "proxy_set_property", "proxy_get_property", "proxy_send_local_response",
	"proxy_get_shared_data", "proxy_set_shared_data", "proxy_register_shared_queue",
	"proxy_resolve_shared_queue", "proxy_dequeue_shared_queue", "proxy_enqueue_shared_queue",
	"proxy_get_header_map_value", "proxy_add_header_map_value", "proxy_replace_header_map_value",
	"proxy_continue_stream", "proxy_close_stream", "proxy_remove_header_map_value",
	"proxy_get_header_map_pairs", "proxy_set_header_map_pairs", "proxy_get_buffer_bytes",
	"proxy_set_buffer_bytes", "proxy_http_call", "proxy_call_foreign_function",
	"proxy_set_tick_period_milliseconds", "proxy_set_effective_context", "proxy_done",
	"proxy_define_metric", "proxy_increment_metric", "proxy_record_metric", "proxy_get_metric",
}

// checkSDKImports fails once, with the reason, when a module started calling a host
// function the emulator lacks, instead of every test failing to load the module.
func checkSDKImports(module []byte) error {
	imports, err := wasmbin.Imports(module)
	if err != nil {
		return err
	}
	var missing []string
	for _, im := range imports {
		if im.Module == "env" && !slices.Contains(sdkEmulatorImports, im.Name) {
			missing = append(missing, im.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the module imports %s, which the SDK emulator does not provide: "+
			"keep such calls out of its default build (see docs/hosts-compared.md)", strings.Join(missing, ", "))
	}
	return nil
}

// sdkHost starts the test plugin in a fresh VM of the SDK emulator with pluginConfig, and
// checks the VM started. The plugin's start result is returned, not checked.
func sdkHost(t *testing.T, pluginConfig string, opts ...func(*proxytest.EmulatorOption)) (proxytest.HostEmulator, bool) {
	t.Helper()
	module, err := sdkModule()
	if err != nil {
		t.Fatalf("building the test plugin for the SDK emulator: %v", err)
	}
	vm, err := proxytest.NewWasmVMContext(module)
	if err != nil {
		t.Fatalf("loading the test plugin into the SDK emulator: %v", err)
	}
	t.Cleanup(func() { vm.Close() })
	opt := proxytest.NewEmulatorOption().WithVMContext(vm).
		WithVMConfiguration([]byte("vm-config")).
		WithPluginConfiguration([]byte(pluginConfig))
	for _, o := range opts {
		o(opt)
	}
	host, reset := proxytest.NewHostEmulator(opt)
	t.Cleanup(reset)
	if !host.StartVM() {
		t.Fatalf("proxy_on_vm_start returned false; logs: %v", allLogs(host))
	}
	if !containsLine(host.GetInfoLogs(), `vm started with configuration "vm-config"`) {
		t.Errorf("no VM start log line; info logs: %q", host.GetInfoLogs())
	}
	return host, bool(host.StartPlugin())
}

// startedSDKHost is sdkHost for a plugin that must start.
func startedSDKHost(t *testing.T) proxytest.HostEmulator {
	t.Helper()
	host, ok := sdkHost(t, "test-config")
	if !ok {
		t.Fatalf("proxy_on_configure returned false; logs: %v", allLogs(host))
	}
	return host
}

func requestHeaders(path, action string, extra ...[2]string) [][2]string {
	h := [][2]string{{":method", "POST"}, {":path", path}, {":authority", "example.com"}, {":scheme", "http"}}
	if action != "" {
		h = append(h, [2]string{"x-test-action", action})
	}
	return append(h, extra...)
}

func TestSDKHostRequestHeadersRoundTrip(t *testing.T) {
	host := startedSDKHost(t)
	id := host.InitializeHttpContext()
	in := requestHeaders("/hello?x=1", "", [2]string{"x-remove-me", "secret"}, [2]string{"x-keep", "kept"})
	if got := host.CallOnRequestHeaders(id, in, false); got != types.ActionContinue {
		t.Fatalf("request headers action = %v, want continue; logs: %v", got, allLogs(host))
	}
	out := host.GetCurrentRequestHeaders(id)
	for _, want := range [][2]string{{"x-abi-path", "/hello?x=1"}, {"x-abi-replaced", "replaced"}, {"x-keep", "kept"}, {":method", "POST"}} {
		if !slices.Contains(out, want) {
			t.Errorf("request headers lack %v: %v", want, out)
		}
	}
	if v, ok := header(out, "x-remove-me"); ok {
		t.Errorf("x-remove-me still present (%q): %v", v, out)
	}
	if want := `request /hello?x=1 action="" headers=6 end_of_stream=false`; !containsLine(host.GetInfoLogs(), want) {
		t.Errorf("no log line %q; info logs: %q", want, host.GetInfoLogs())
	}
	if got, err := host.GetCounterMetric("abitest.requests_total"); err != nil || got != 1 {
		t.Errorf("abitest.requests_total = %d, %v; want 1", got, err)
	}

	if got := host.CallOnResponseHeaders(id, [][2]string{{":status", "201"}, {"content-type", "text/plain"}}, false); got != types.ActionContinue {
		t.Fatalf("response headers action = %v, want continue; logs: %v", got, allLogs(host))
	}
	resp := host.GetCurrentResponseHeaders(id)
	for _, want := range [][2]string{{"x-abi-upstream-status", "201"}, {"x-abi-request-count", "1"}} {
		if !slices.Contains(resp, want) {
			t.Errorf("response headers lack %v: %v", want, resp)
		}
	}
	host.CompleteHttpContext(id)
	if got, err := host.GetCounterMetric("abitest.streams_done"); err != nil || got != 1 {
		t.Errorf("abitest.streams_done = %d, %v; want 1 (OnStreamDone from proxy_on_log)", got, err)
	}
	if len(host.GetCriticalLogs()) > 0 || len(host.GetErrorLogs()) > 0 {
		t.Errorf("unexpected error logs: %v", allLogs(host))
	}
}

func TestSDKHostProperties(t *testing.T) {
	port := make([]byte, 8)
	binary.LittleEndian.PutUint64(port, 51234)
	host, ok := sdkHost(t, "test-config", func(o *proxytest.EmulatorOption) {
		o.WithProperty([]string{"source", "address"}, []byte("10.1.2.3:51234")).
			WithProperty([]string{"source", "port"}, port).
			WithProperty([]string{"plugin_name"}, []byte("meshwaf"))
	})
	if !ok {
		t.Fatalf("plugin did not start: %v", allLogs(host))
	}
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, requestHeaders("/", ""), true)
	host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, true)
	props, _ := header(host.GetCurrentResponseHeaders(id), "x-abi-props")
	for _, want := range []string{
		"source.address=10.1.2.3:51234;", "source.port=51234;", "plugin_name=meshwaf;",
		// A property the host does not have is NotFound, which the guest reports as such,
		// not as a failure of the call.
		"destination.address=error:property destination.address: proxy-wasm: not found;",
		"unknown=property no.such.property: proxy-wasm: not found;",
	} {
		if !strings.Contains(props, want) {
			t.Errorf("x-abi-props lacks %q: %q", want, props)
		}
	}
}

func TestSDKHostLocalReplyFromRequestHeaders(t *testing.T) {
	host := startedSDKHost(t)
	id := host.InitializeHttpContext()
	if got := host.CallOnRequestHeaders(id, requestHeaders("/", "local-reply"), true); got != types.ActionPause {
		t.Errorf("action = %v, want pause after a local reply", got)
	}
	r := host.GetSentLocalResponse(id)
	if r == nil {
		t.Fatalf("no local response sent; logs: %v", allLogs(host))
	}
	if r.StatusCode != 418 || string(r.Data) != "teapot\n" || r.StatusCodeDetail != "abitest_teapot" || r.GRPCStatus != -1 {
		t.Errorf("local response = %d %q details %q grpc %d; want 418 \"teapot\\n\" abitest_teapot -1",
			r.StatusCode, r.Data, r.StatusCodeDetail, r.GRPCStatus)
	}
	for _, want := range [][2]string{{"content-type", "text/plain"}, {"x-abi-local", "yes"}} {
		if !slices.Contains(r.Headers, want) {
			t.Errorf("local response headers lack %v: %v", want, r.Headers)
		}
	}
}

func TestSDKHostBufferedRequestBodyReplaced(t *testing.T) {
	host := startedSDKHost(t)
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, requestHeaders("/upload", "buffer-request-body"), false)
	if got := host.CallOnRequestBody(id, []byte("hello, "), false); got != types.ActionPause {
		t.Errorf("first chunk: action = %v, want pause (buffer until the end)", got)
	}
	if got := host.CallOnRequestBody(id, []byte("wasm world"), true); got != types.ActionContinue {
		t.Errorf("last chunk: action = %v, want continue; logs: %v", got, allLogs(host))
	}
	if got, want := string(host.GetCurrentRequestBody(id)), "HELLO, WASM WORLD"; got != want {
		t.Errorf("request body sent on = %q, want %q", got, want)
	}
	if got, err := host.GetHistogramMetric("abitest.request_body_bytes"); err != nil || got != 17 {
		t.Errorf("abitest.request_body_bytes = %d, %v; want 17", got, err)
	}
}

func TestSDKHostBufferedResponseBodyReplaced(t *testing.T) {
	host := startedSDKHost(t)
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, requestHeaders("/", "buffer-response-body"), true)
	if got := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false); got != types.ActionPause {
		t.Errorf("response headers: action = %v, want pause (held until the body is seen)", got)
	}
	if got := host.CallOnResponseBody(id, []byte("abc"), false); got != types.ActionPause {
		t.Errorf("first chunk: action = %v, want pause", got)
	}
	if got := host.CallOnResponseBody(id, []byte("def"), true); got != types.ActionContinue {
		t.Errorf("last chunk: action = %v, want continue", got)
	}
	if got := string(host.GetCurrentResponseBody(id)); got != "ABCDEF" {
		t.Errorf("response body = %q, want ABCDEF", got)
	}
}

func TestSDKHostLocalReplyFromResponseBody(t *testing.T) {
	host := startedSDKHost(t)
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, requestHeaders("/", "response-body-reply"), true)
	host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, false)
	if got := host.CallOnResponseBody(id, []byte("leak"), true); got != types.ActionPause {
		t.Errorf("action = %v, want pause", got)
	}
	if r := host.GetSentLocalResponse(id); r == nil || r.StatusCode != 403 || r.StatusCodeDetail != "abitest_response_body" {
		t.Errorf("local response = %+v, want 403 abitest_response_body", r)
	}
}

func TestSDKHostPausedHeadersContinuedFromBody(t *testing.T) {
	host := startedSDKHost(t)
	id := host.InitializeHttpContext()
	if got := host.CallOnRequestHeaders(id, requestHeaders("/", "pause-headers"), false); got != types.ActionPause {
		t.Fatalf("headers: action = %v, want pause", got)
	}
	host.CallOnRequestBody(id, []byte("x"), true)
	if got := host.GetCurrentHttpStreamAction(id); got != types.ActionContinue {
		t.Errorf("stream action after proxy_continue_stream and continue = %v, want continue", got)
	}
}

func TestSDKHostMetricsAcrossStreams(t *testing.T) {
	host := startedSDKHost(t)
	for i := range 3 {
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, requestHeaders("/", ""), true)
		host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, true)
		// proxy_get_metric reads back what proxy_increment_metric added in this VM.
		if got, _ := header(host.GetCurrentResponseHeaders(id), "x-abi-request-count"); got != string(rune('1'+i)) {
			t.Errorf("stream %d: x-abi-request-count = %q, want %d", i, got, i+1)
		}
		host.CompleteHttpContext(id)
	}
	for name, want := range map[string]uint64{"abitest.requests_total": 3, "abitest.streams_done": 3} {
		if got, err := host.GetCounterMetric(name); err != nil || got != want {
			t.Errorf("%s = %d, %v; want %d", name, got, err, want)
		}
	}
}

func TestSDKHostPanicFailsClosed(t *testing.T) {
	host := startedSDKHost(t)
	id := host.InitializeHttpContext()
	if got := host.CallOnRequestHeaders(id, requestHeaders("/", "panic"), true); got != types.ActionPause {
		t.Errorf("action = %v, want pause: the request must not go on", got)
	}
	r := host.GetSentLocalResponse(id)
	if r == nil || r.StatusCode != 500 || r.StatusCodeDetail != "meshwaf_plugin_panic" {
		t.Fatalf("local response = %+v, want 500 meshwaf_plugin_panic", r)
	}
	if !containsLine(host.GetCriticalLogs(), "panic in OnRequestHeaders") || !containsLine(host.GetCriticalLogs(), "testplugin: panic requested") {
		t.Errorf("critical logs do not name the panic: %q", host.GetCriticalLogs())
	}
	// Later callbacks of the failed stream do not run the plugin again...
	if got := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}}, true); got != types.ActionContinue {
		t.Errorf("response headers of a failed stream: action = %v, want continue (not re-run)", got)
	}
	if _, ok := header(host.GetCurrentResponseHeaders(id), "x-abi-props"); ok {
		t.Error("the plugin ran on the response of a stream it failed")
	}
	host.CompleteHttpContext(id)
	// ...and the VM keeps serving: a panic is contained, not a trap.
	next := host.InitializeHttpContext()
	if got := host.CallOnRequestHeaders(next, requestHeaders("/after", ""), true); got != types.ActionContinue {
		t.Errorf("next stream: action = %v, want continue", got)
	}
	if !slices.Contains(host.GetCurrentRequestHeaders(next), [2]string{"x-abi-path", "/after"}) {
		t.Errorf("next stream not processed: %v", host.GetCurrentRequestHeaders(next))
	}
}

// The emulator has no timer: it records the period and calls proxy_on_tick when told. The
// test plugin's tick settings work there as in our host (wasmhost TestTick): the period
// reaches the host, each tick is counted, and the plugin's "tick-stop" sets the period to 0.
func TestSDKHostTicks(t *testing.T) {
	host, ok := sdkHost(t, "tick=10 tick-stop=2")
	if !ok {
		t.Fatalf("proxy_on_configure returned false; logs: %v", allLogs(host))
	}
	if got := host.GetTickPeriod(); got != 10 {
		t.Fatalf("tick period = %d ms, want 10", got)
	}
	host.Tick()
	if got, err := host.GetCounterMetric("abitest.ticks"); err != nil || got != 1 {
		t.Errorf("abitest.ticks = %d, %v after one tick; want 1", got, err)
	}
	if !containsLine(host.GetInfoLogs(), "tick 1 of root context") {
		t.Errorf("no tick logged: %q", host.GetInfoLogs())
	}
	host.Tick()
	if got := host.GetTickPeriod(); got != 0 {
		t.Errorf("tick period = %d ms after the plugin's tick-stop, want 0", got)
	}
	if got, err := host.GetCounterMetric("abitest.tick_overlaps"); err != nil || got != 0 {
		t.Errorf("abitest.tick_overlaps = %d, %v; want 0", got, err)
	}
}

func TestSDKHostPluginConfigurationRefused(t *testing.T) {
	host, ok := sdkHost(t, "fail")
	if ok {
		t.Fatal(`proxy_on_configure returned true for configuration "fail"`)
	}
	if !containsLine(host.GetErrorLogs(), `plugin configuration "fail" refused`) {
		t.Errorf("no error log line for the refused configuration: %q", host.GetErrorLogs())
	}
}

// The emulator answers proxy_get_buffer_bytes on an empty buffer with NotFound; Envoy (via
// proxy-wasm-cpp-host) answers Ok with no data. The test plugin reads its configuration even
// when the size is 0, so under the emulator an empty configuration fails the start.
func TestSDKEmulatorQuirkEmptyBufferIsNotFound(t *testing.T) {
	host, ok := sdkHost(t, "")
	if ok {
		t.Skip("the SDK emulator now starts the plugin with an empty configuration: update docs/hosts-compared.md")
	}
	if !containsLine(host.GetErrorLogs(), "reading plugin configuration: reading buffer 7: proxy-wasm: not found") {
		t.Errorf("error logs: %q", host.GetErrorLogs())
	}
}

// The emulator's proxy_add_header_map_value appends the value to an existing entry without a
// separator; Envoy adds a second entry of that name.
func TestSDKEmulatorQuirkAddHeaderConcatenates(t *testing.T) {
	host := startedSDKHost(t)
	id := host.InitializeHttpContext()
	host.CallOnRequestHeaders(id, requestHeaders("/b", "", [2]string{"x-abi-path", "/a"}), true)
	var got []string
	for _, h := range host.GetCurrentRequestHeaders(id) {
		if h[0] == "x-abi-path" {
			got = append(got, h[1])
		}
	}
	if !slices.Equal(got, []string{"/a/b"}) {
		t.Skipf("x-abi-path entries = %q: the emulator no longer concatenates; update docs/hosts-compared.md", got)
	}
}

func header(h [][2]string, name string) (string, bool) {
	for _, kv := range h {
		if kv[0] == name {
			return kv[1], true
		}
	}
	return "", false
}

func containsLine(lines []string, substr string) bool {
	return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, substr) })
}

func allLogs(h proxytest.HostEmulator) map[string][]string {
	return map[string][]string{
		"debug": h.GetDebugLogs(), "info": h.GetInfoLogs(), "warn": h.GetWarnLogs(),
		"error": h.GetErrorLogs(), "critical": h.GetCriticalLogs(),
	}
}
