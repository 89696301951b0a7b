//go:build !wasip1

package wasmplugin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmtest"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// faultRules make the fault-injection build of the module (wasmtest.FaultPlugin) fail in each
// phase on request: @meshwafPanic panics inside Coraza's rule evaluation, and an unknown
// response body processor makes ProcessResponseBody return an error.
var faultRules = []string{
	"SecRuleEngine On",
	"SecRequestBodyAccess On",
	"SecResponseBodyAccess On",
	"SecResponseBodyMimeType text/html",
	`SecRule REQUEST_HEADERS:X-Panic "@rx ." "id:9000,phase:1,pass,log,msg:'before the panic'"`,
	`SecRule REQUEST_HEADERS:X-Panic "@meshwafPanic request-headers" "id:9001,phase:1,pass,nolog"`,
	`SecRule REQUEST_BODY "@meshwafPanic PANIC-IN-REQUEST-BODY" "id:9002,phase:2,pass,nolog"`,
	`SecRule RESPONSE_HEADERS:X-Panic "@meshwafPanic response-headers" "id:9003,phase:3,pass,nolog"`,
	`SecRule RESPONSE_BODY "@meshwafPanic PANIC-IN-RESPONSE-BODY" "id:9004,phase:4,pass,nolog"`,
	`SecRule RESPONSE_HEADERS:X-Bad-Processor "@rx ." "id:9005,phase:3,pass,nolog,ctl:responseBodyProcessor=NOPE"`,
}

func faultPlugin(t *testing.T, mode string) (*wasmhost.Plugin, *wasmtest.LogRecorder) {
	t.Helper()
	m := wasmtest.FaultPlugin(t)
	cfg := map[string]any{"directives_map": map[string][]string{"faults": faultRules}, "default_directives": "faults"}
	if mode != "" {
		cfg["failure_mode"] = mode
	}
	data, _ := json.Marshal(cfg)
	log := &wasmtest.LogRecorder{}
	p, err := m.NewPlugin(context.Background(), wasmhost.WithPluginConfig(data),
		wasmhost.WithLogger(log.Log), wasmhost.WithLogLevel(wasmhost.LogTrace))
	if err != nil {
		t.Fatalf("NewPlugin: %v\n%s", err, strings.Join(log.Lines(), "\n"))
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p, log
}

func TestFailureMode(t *testing.T) {
	urlencoded := [][2]string{{"content-type", "application/x-www-form-urlencoded"}}
	cases := []struct {
		name string
		req  request
		// callback, phase and cause as the failure's log line names them.
		callback, phase, cause, lastRule string
		// response says the failure comes after the request went upstream.
		response bool
	}{
		{"panic_in_request_headers", request{headers: [][2]string{{"x-panic", "request-headers"}}},
			"OnRequestHeaders", "request-headers", "panic: faultinject", "9000", false},
		{"panic_in_request_body", request{method: "POST", body: []byte("a=PANIC-IN-REQUEST-BODY"), headers: urlencoded},
			"OnRequestBody", "request-body", "panic: faultinject", "none", false},
		{"panic_in_request_body_chunked", request{method: "POST", body: []byte("a=PANIC-IN-REQUEST-BODY&b=1"), chunk: 5, headers: urlencoded},
			"OnRequestBody", "request-body", "panic: faultinject", "none", false},
		{"panic_in_request_trailers", request{method: "POST", body: []byte("a=PANIC-IN-REQUEST-BODY"), headers: urlencoded,
			trailers: wasmhost.Headers{{"x-checksum", "1"}}},
			"OnRequestTrailers", "request-body", "panic: faultinject", "none", false},
		{"panic_in_response_headers", request{respHeaders: [][2]string{{"x-panic", "response-headers"}}},
			"OnResponseHeaders", "response-headers", "panic: faultinject", "none", true},
		{"panic_in_response_body_after_headers_held", request{respBody: []byte("<p>PANIC-IN-RESPONSE-BODY</p>")},
			"OnResponseBody", "response-body", "panic: faultinject", "none", true},
		{"inspection_error_in_response_body", request{respHeaders: [][2]string{{"x-bad-processor", "1"}}, respBody: []byte("<p>hello</p>")},
			"OnResponseBody", "response-body", "processing response body: invalid bodyprocessor", "9005", true},
	}
	for _, mode := range []string{"", "closed", "open"} {
		modeName := mode
		if mode == "" {
			modeName = "closed"
		}
		t.Run("mode_"+mode, func(t *testing.T) {
			p, log := faultPlugin(t, mode)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					log.Reset()
					metric := fmt.Sprintf("waf_filter.tx.mode=.=%s;.;phase=.=%s;.;authority=.=default;.;failures", modeName, tc.phase)
					before := p.Metrics().Map()[metric]
					o := drive(t, p, tc.req)
					switch modeName {
					case "closed":
						if o.status() != 500 || o.reply == nil || o.reply.Details != "meshwaf_inspection_failed" {
							t.Fatalf("status %d (reply %+v), want the 500 meshwaf_inspection_failed", o.status(), o.reply)
						}
						if !tc.response && o.upstreamHeaders != nil {
							t.Fatal("the request reached the upstream")
						}
						if tc.response && o.clientHeaders != nil {
							t.Fatal("the response headers reached the client")
						}
					case "open":
						// drive fails the test unless the request reached the upstream in full.
						if o.status() != 200 || o.reply != nil {
							t.Fatalf("status %d (reply %+v), want the upstream's 200", o.status(), o.reply)
						}
						if string(o.upstreamBody) != string(tc.req.body) {
							t.Fatalf("upstream body %q, want %q", o.upstreamBody, tc.req.body)
						}
						if string(o.clientBody) != string(tc.req.respBody) {
							t.Fatalf("client body %q, want %q", o.clientBody, tc.req.respBody)
						}
					}
					want := fmt.Sprintf("[error] meshwaf: WAF failure in %s (phase %s, directive set \"faults\", transaction ", tc.callback, tc.phase)
					line, ok := log.Find(want)
					if !ok {
						t.Fatalf("no line %q in\n%s", want, strings.Join(log.Lines(), "\n"))
					}
					for _, part := range []string{"last matched rule " + tc.lastRule + "): " + tc.cause, "failure_mode " + modeName} {
						if !strings.Contains(line, part) {
							t.Errorf("failure line lacks %q:\n%s", part, line)
						}
					}
					if strings.HasPrefix(tc.cause, "panic") {
						if _, ok := log.Find("[debug] meshwaf: transaction "); !ok {
							t.Errorf("no debug line with the panic's stack")
						}
					}
					if n := log.Count("[critical]"); n > 0 {
						t.Errorf("%d critical lines (a second panic?):\n%s", n, strings.Join(log.Lines(), "\n"))
					}
					if got := p.Metrics().Map()[metric]; got != before+1 {
						t.Errorf("%s = %d, want %d; metrics %v", metric, got, before+1, p.Metrics().Map())
					}
					// The VM serves the next request normally.
					if o := drive(t, p, request{path: "/next"}); o.status() != 200 {
						t.Fatalf("next request: status %d (reply %+v), want 200", o.status(), o.reply)
					}
				})
			}
		})
	}
}

// TestProductionModuleCannotPanicOnRequest checks the fault injection stays out of the module
// that ships: its operator is unknown there, so the configuration is refused.
func TestProductionModuleCannotPanicOnRequest(t *testing.T) {
	m := wafModule(t)
	cfg, _ := json.Marshal(map[string]any{"directives_map": map[string][]string{"faults": faultRules}, "default_directives": "faults"})
	log := &wasmtest.LogRecorder{}
	p, err := m.NewPlugin(context.Background(), wasmhost.WithPluginConfig(cfg), wasmhost.WithLogger(log.Log))
	if err == nil {
		p.Close(context.Background())
		t.Fatal("the production module accepted @meshwafPanic")
	}
	if _, ok := log.Find("meshwafPanic"); !ok {
		t.Errorf("the refusal does not name the operator:\n%s", strings.Join(log.Lines(), "\n"))
	}
}
