//go:build !wasip1

package abitest

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/proxytest"
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"

	"github.com/meshwaf/meshwaf/internal/wasmtest"
)

// The WAF plugin's smoke tests in the SDK's emulator: the product, not only the test plugin,
// behaves the same in a host this repository did not write. The plugin is loaded as built
// (only `_initialize` renamed, as for the test plugin); checkSDKImports fails first, naming
// the function, if the plugin starts importing one the emulator lacks.

// sdkWAFModule is the WAF plugin prepared for the emulator.
var sdkWAFModule = sync.OnceValues(func() ([]byte, error) { return forSDKEmulator(wasmtest.Plugin) })

// sdkWAFConfig is a blocking full-CRS set plus a set with response rules for one authority.
func sdkWAFConfig(t *testing.T) []byte {
	t.Helper()
	config, err := json.Marshal(map[string]any{
		"directives_map": map[string][]string{
			"crs": {
				"Include @recommended-conf",
				"SecRuleEngine On",
				"Include @crs-setup-conf",
				"Include @owasp_crs/*.conf",
			},
			"responses": {
				"Include @recommended-conf",
				"SecRuleEngine On",
				"SecResponseBodyAccess On",
				"SecResponseBodyMimeType text/plain",
				`SecRule RESPONSE_BODY "@contains SECRET-TOKEN" "id:5001,phase:4,deny,status:403,log,msg:'leaky body'"`,
			},
		},
		"default_directives":       "crs",
		"per_authority_directives": map[string]string{"internal.example": "responses"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return config
}

// sdkWAFHost starts the WAF plugin in one emulator VM (compiling the full plugin takes
// seconds, so the subtests share it; each uses its own HTTP context).
func sdkWAFHost(t *testing.T) proxytest.HostEmulator {
	t.Helper()
	module, err := sdkWAFModule()
	if err != nil {
		t.Fatalf("preparing the WAF plugin for the SDK emulator: %v", err)
	}
	vm, err := proxytest.NewWasmVMContext(module)
	if err != nil {
		t.Fatalf("loading the WAF plugin into the SDK emulator: %v", err)
	}
	t.Cleanup(func() { vm.Close() })
	host, reset := proxytest.NewHostEmulator(proxytest.NewEmulatorOption().WithVMContext(vm).
		WithPluginConfiguration(sdkWAFConfig(t)))
	t.Cleanup(reset)
	if !host.StartVM() {
		t.Fatalf("proxy_on_vm_start returned false; logs: %v", allLogs(host))
	}
	if !host.StartPlugin() {
		t.Fatalf("proxy_on_configure returned false; logs: %v", allLogs(host))
	}
	return host
}

func wafRequest(method, authority, path string, extra ...[2]string) [][2]string {
	return append([][2]string{{":method", method}, {":path", path}, {":authority", authority}, {":scheme", "http"}}, extra...)
}

func TestSDKHostRunsTheWAF(t *testing.T) {
	host := sdkWAFHost(t)

	// wantBlocked checks stream id got a 403 local reply that echoes the request id and
	// names no upstream data.
	wantBlocked := func(t *testing.T, id uint32, requestID string) {
		t.Helper()
		r := host.GetSentLocalResponse(id)
		if r == nil {
			t.Fatalf("no local reply; logs: %v", allLogs(host))
		}
		if r.StatusCode != 403 {
			t.Errorf("local reply status %d, want 403", r.StatusCode)
		}
		if len(r.Data) == 0 || !slices.ContainsFunc(r.Headers, func(h [2]string) bool { return h[0] == "content-type" }) {
			t.Errorf("local reply has no body or content type: %q %v", r.Data, r.Headers)
		}
		if requestID != "" && !slices.Contains(r.Headers, [2]string{"x-request-id", requestID}) {
			t.Errorf("local reply headers lack x-request-id %q: %v", requestID, r.Headers)
		}
	}
	wantPassed := func(t *testing.T, id uint32) {
		t.Helper()
		if r := host.GetSentLocalResponse(id); r != nil {
			t.Fatalf("local reply %d %q for a benign request; logs: %v", r.StatusCode, r.Data, allLogs(host))
		}
	}

	t.Run("benign GET passes", func(t *testing.T) {
		id := host.InitializeHttpContext()
		if got := host.CallOnRequestHeaders(id, wafRequest("GET", "shop.example", "/index.html?a=1",
			[2]string{"user-agent", "curl/8.5.0"}, [2]string{"accept", "*/*"}), true); got != types.ActionContinue {
			t.Fatalf("request headers action %v, want continue; logs: %v", got, allLogs(host))
		}
		if got := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {"content-type", "text/html"}}, true); got != types.ActionContinue {
			t.Errorf("response headers action %v, want continue", got)
		}
		host.CompleteHttpContext(id)
		wantPassed(t, id)
	})

	t.Run("benign form POST passes with its body untouched", func(t *testing.T) {
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, wafRequest("POST", "shop.example", "/login",
			[2]string{"content-type", "application/x-www-form-urlencoded"}, [2]string{"user-agent", "curl/8.5.0"}, [2]string{"accept", "*/*"}), false)
		body := "user=alice&remember=on"
		host.CallOnRequestBody(id, []byte(body[:8]), false)
		if got := host.CallOnRequestBody(id, []byte(body[8:]), true); got != types.ActionContinue {
			t.Fatalf("last body chunk action %v, want continue; logs: %v", got, allLogs(host))
		}
		if got := string(host.GetCurrentRequestBody(id)); got != body {
			t.Errorf("body sent on %q, want %q", got, body)
		}
		host.CompleteHttpContext(id)
		wantPassed(t, id)
	})

	t.Run("SQL injection in the query blocked", func(t *testing.T) {
		id := host.InitializeHttpContext()
		if got := host.CallOnRequestHeaders(id, wafRequest("GET", "shop.example", "/?id=1'%20OR%20'1'='1",
			[2]string{"x-request-id", "sdk-req-1"}), true); got != types.ActionPause {
			t.Errorf("request headers action %v, want pause after the local reply", got)
		}
		wantBlocked(t, id, "sdk-req-1")
		// A CRS rule of severity CRITICAL logs at the proxy's critical level.
		if !slices.ContainsFunc(host.GetCriticalLogs(), func(l string) bool { return strings.Contains(l, `[id "942100"]`) }) {
			t.Errorf("no critical log naming rule 942100; logs: %v", allLogs(host))
		}
	})

	t.Run("scanner user agent blocked", func(t *testing.T) {
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, wafRequest("GET", "shop.example", "/", [2]string{"user-agent", "sqlmap/1.7"}), true)
		wantBlocked(t, id, "")
	})

	t.Run("XSS in a form body split across chunks blocked", func(t *testing.T) {
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, wafRequest("POST", "shop.example", "/comment",
			[2]string{"content-type", "application/x-www-form-urlencoded"}), false)
		body := "comment=<script>alert(document.cookie)</script>"
		for i := 0; i < len(body); i += 7 {
			end := min(i+7, len(body))
			host.CallOnRequestBody(id, []byte(body[i:end]), end == len(body))
		}
		wantBlocked(t, id, "")
	})

	t.Run("response body rule answers a real 403", func(t *testing.T) {
		id := host.InitializeHttpContext()
		host.CallOnRequestHeaders(id, wafRequest("GET", "internal.example", "/report"), true)
		if got := host.CallOnResponseHeaders(id, [][2]string{{":status", "200"}, {"content-type", "text/plain"}}, false); got != types.ActionPause {
			t.Errorf("response headers action %v, want pause until the body verdict", got)
		}
		host.CallOnResponseBody(id, []byte("balance: 10\nSECRET-"), false)
		host.CallOnResponseBody(id, []byte("TOKEN=abc\n"), true)
		wantBlocked(t, id, "")
	})

	if got, err := host.GetCounterMetric("waf_filter.tx.total"); err != nil || got != 6 {
		t.Errorf("waf_filter.tx.total = %d, %v; want 6", got, err)
	}
	if errs := host.GetErrorLogs(); len(errs) > 0 {
		t.Errorf("error logs: %q", errs)
	}
}
