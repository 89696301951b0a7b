//go:build !wasip1

// The behaviour tests run natively: they host the wasm module, they are not part of it.

package wasmplugin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmtest"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// The behaviour tests drive the compiled meshwaf.wasm through the wazero host, callback by
// callback, the way Envoy would.

func wafModule(t testing.TB) *wasmhost.Module {
	t.Helper()
	return wasmtest.Module(t, wasmtest.Plugin)
}

// crs is a blocking CRS set as users write it.
var crs = []string{
	"Include @recommended-conf",
	"SecRuleEngine On",
	"SecResponseBodyMimeType text/plain text/html application/json",
	"Include @crs-setup-conf",
	"Include @owasp_crs/*.conf",
}

// custom holds rules that make each plugin behaviour easy to trigger.
var custom = []string{
	"Include @recommended-conf",
	"SecRuleEngine On",
	`SecRule REQUEST_HEADERS:X-Redirect "@streq yes" "id:2001,phase:1,redirect:https://example.com/blocked,log,msg:'redirect'"`,
	`SecRule REQUEST_HEADERS:X-Drop "@streq yes" "id:2002,phase:1,drop,log,msg:'drop'"`,
	`SecRule REQUEST_BODY "@contains evil-body" "id:2003,phase:2,deny,status:403,log,msg:'evil body',severity:'CRITICAL'"`,
	`SecRule RESPONSE_HEADERS:X-Leak "@streq yes" "id:2004,phase:3,deny,status:403,log,msg:'leaky header'"`,
	`SecRule RESPONSE_BODY "@contains SECRET-TOKEN" "id:2005,phase:4,deny,status:403,log,msg:'leaky body'"`,
	`SecRule REQUEST_HEADERS:X-Teapot "@streq yes" "id:2006,phase:1,deny,status:418,log,msg:'teapot'"`,
}

var pluginConfig = map[string]any{
	"directives_map": map[string][]string{
		"crs":    crs,
		"custom": custom,
		"bodyoff": {
			"SecRuleEngine On", "SecRequestBodyAccess Off",
			`SecRule REQUEST_HEADERS:X-Phase2 "@streq deny" "id:3001,phase:2,deny,status:403,log,msg:'phase 2 deny'"`,
		},
		"detect": append(append([]string{}, crs...), "SecRuleEngine DetectionOnly"),
		"reject": {
			"SecRuleEngine On", "SecRequestBodyAccess On", "SecRequestBodyLimit 1000", "SecRequestBodyLimitAction Reject",
		},
		"partial": {
			"SecRuleEngine On", "SecRequestBodyAccess On", "SecRequestBodyLimit 1000", "SecRequestBodyLimitAction ProcessPartial",
			`SecRule REQUEST_BODY "@contains evil-body" "id:4001,phase:2,deny,status:403,log,msg:'evil body'"`,
		},
		"resplimit": {
			"SecRuleEngine On", "SecResponseBodyAccess On", "SecResponseBodyMimeType text/html",
			"SecResponseBodyLimit 100", "SecResponseBodyLimitAction ProcessPartial",
			`SecRule RESPONSE_BODY "@contains SECRET-TOKEN" "id:6001,phase:4,deny,status:403,log,msg:'leaky body'"`,
		},
		"respreject": {
			"SecRuleEngine On", "SecResponseBodyAccess On", "SecResponseBodyMimeType text/html",
			"SecResponseBodyLimit 100", "SecResponseBodyLimitAction Reject",
		},
		"api":  {"SecRuleEngine On", `SecRule REQUEST_HEADERS:X-Set "@rx ." "id:5001,phase:1,deny,status:403,log,msg:'set api'"`},
		"host": {"SecRuleEngine On", `SecRule REQUEST_HEADERS:X-Set "@rx ." "id:5002,phase:1,deny,status:403,log,msg:'set host'"`},
		"wild": {"SecRuleEngine On", `SecRule REQUEST_HEADERS:X-Set "@rx ." "id:5003,phase:1,deny,status:403,log,msg:'set wild'"`},
	},
	"default_directives": "crs",
	"per_authority_directives": map[string]string{
		"custom.test": "custom", "bodyoff.test": "bodyoff", "detect.test": "detect",
		"reject.test": "reject", "partial.test": "partial",
		"resplimit.test": "resplimit", "respreject.test": "respreject",
		"api.test:8443": "api", "api.test": "host", "*.wild.test": "wild",
	},
	"metric_labels": map[string]string{"owner": "team-a"},
}

var (
	pluginOnce sync.Once
	plugin     *wasmhost.Plugin
	pluginLog  = &wasmtest.LogRecorder{}
	pluginErr  error
)

// wafPlugin is one plugin shared by the tests: compiling CRS in Wasm takes seconds.
func wafPlugin(t testing.TB) (*wasmhost.Plugin, *wasmtest.LogRecorder) {
	t.Helper()
	m := wafModule(t)
	pluginOnce.Do(func() {
		cfg, _ := json.Marshal(pluginConfig)
		plugin, pluginErr = m.NewPlugin(context.Background(), wasmhost.WithPluginConfig(cfg),
			wasmhost.WithLogger(pluginLog.Log), wasmhost.WithLogLevel(wasmhost.LogTrace))
	})
	if pluginErr != nil {
		t.Fatalf("NewPlugin: %v", pluginErr)
	}
	return plugin, pluginLog
}

// request is one exchange to drive through the plugin.
type request struct {
	method, path, authority string
	headers                 [][2]string
	body                    []byte
	chunk                   int // body chunk size; 0: one chunk
	trailers                wasmhost.Headers
	// conn is the connection the stream arrived on; zero: 10.1.2.3:54321 to 10.0.0.1:8080, HTTP/1.1.
	conn wasmhost.StreamInfo
	// The upstream's answer.
	status      int
	respHeaders [][2]string
	respBody    []byte
}

// outcome is what reached the upstream and the client.
type outcome struct {
	upstreamHeaders wasmhost.Headers
	upstreamBody    []byte
	upstreamEnded   bool
	reply           *wasmhost.LocalReply
	reset           bool
	clientHeaders   wasmhost.Headers
	clientBody      []byte
}

// newPlugin starts a plugin of its own with the given configuration (marshalled to JSON) in
// one VM, logging at trace into its own recorder; it is closed when the test ends.
func newPlugin(t *testing.T, config any) (*wasmhost.Plugin, *wasmtest.LogRecorder) {
	t.Helper()
	cfg, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	rec := &wasmtest.LogRecorder{}
	p, err := wafModule(t).NewPlugin(context.Background(), wasmhost.WithPluginConfig(cfg), wasmhost.WithVMs(1),
		wasmhost.WithLogger(rec.Log), wasmhost.WithLogLevel(wasmhost.LogTrace))
	if err != nil {
		t.Fatalf("NewPlugin: %v; log:\n%s", err, strings.Join(rec.Lines(), "\n"))
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p, rec
}

// oneSet is a configuration of one directive set, the default.
func oneSet(lines ...string) map[string]any {
	return map[string]any{"directives_map": map[string][]string{"t": lines}, "default_directives": "t"}
}

func drive(t *testing.T, p *wasmhost.Plugin, r request) outcome {
	t.Helper()
	conn := r.conn
	if conn == (wasmhost.StreamInfo{}) {
		conn = wasmhost.StreamInfo{SourceAddress: "10.1.2.3:54321", DestinationAddress: "10.0.0.1:8080", Protocol: "HTTP/1.1"}
	}
	s, err := p.NewStream(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	var o outcome
	// apply records a step; it reports whether the exchange ended.
	apply := func(st wasmhost.Step, err error, upstream bool) bool {
		t.Helper()
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if st.Reply != nil {
			o.reply = st.Reply
			return true
		}
		if st.Reset {
			o.reset = true
			return true
		}
		if upstream {
			if st.Headers != nil {
				o.upstreamHeaders = st.Headers
			}
			o.upstreamBody = append(o.upstreamBody, st.Body...)
			o.upstreamEnded = o.upstreamEnded || st.EndOfStream
		} else {
			if st.Headers != nil {
				o.clientHeaders = st.Headers
			}
			o.clientBody = append(o.clientBody, st.Body...)
		}
		return false
	}
	up := func(st wasmhost.Step, err error) bool { t.Helper(); return apply(st, err, true) }
	down := func(st wasmhost.Step, err error) bool { t.Helper(); return apply(st, err, false) }
	method, path, authority := r.method, r.path, r.authority
	if method == "" {
		method = "GET"
	}
	if path == "" {
		path = "/"
	}
	if authority == "" {
		authority = "app.test"
	}
	h := wasmhost.Headers{{":method", method}, {":path", path}, {":authority", authority}, {":scheme", "http"},
		{"user-agent", "Mozilla/5.0 (X11; Linux x86_64) meshwaf-tests"}, {"accept", "*/*"}}
	h = append(h, r.headers...)
	noBody := len(r.body) == 0 && r.trailers == nil
	if up(s.RequestHeaders(h, noBody)) {
		return o
	}
	chunk := r.chunk
	if chunk <= 0 {
		chunk = max(len(r.body), 1)
	}
	for off := 0; off < len(r.body); off += chunk {
		end := min(off+chunk, len(r.body))
		if up(s.RequestBody(r.body[off:end], end == len(r.body) && r.trailers == nil)) {
			return o
		}
	}
	if r.trailers != nil {
		if up(s.RequestTrailers(r.trailers)) {
			return o
		}
	}
	if !o.upstreamEnded {
		t.Fatalf("request never released upstream in full (headers %v, %d body bytes)", o.upstreamHeaders != nil, len(o.upstreamBody))
	}
	status := r.status
	if status == 0 {
		status = 200
	}
	rh := wasmhost.Headers{{":status", fmt.Sprint(status)}, {"content-type", "text/html"}}
	rh = append(rh, r.respHeaders...)
	if down(s.ResponseHeaders(rh, len(r.respBody) == 0)) {
		return o
	}
	if len(r.respBody) > 0 {
		if down(s.ResponseBody(r.respBody, true)) {
			return o
		}
	}
	return o
}

func (o outcome) status() int {
	if o.reply != nil {
		return o.reply.Status
	}
	if o.reset {
		return -1
	}
	if v, ok := o.clientHeaders.Get(":status"); ok {
		var n int
		fmt.Sscan(v, &n)
		return n
	}
	return 0
}

func form(kv ...string) []byte {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return []byte(v.Encode())
}

const sqli = "1' OR '1'='1' UNION SELECT password FROM users--"
const xss = "<script>alert(document.cookie)</script>"

func multipart(field, value string) ([]byte, string) {
	b := "----meshwafboundary"
	body := "--" + b + "\r\nContent-Disposition: form-data; name=\"" + field + "\"\r\n\r\n" + value + "\r\n--" + b + "--\r\n"
	return []byte(body), "multipart/form-data; boundary=" + b
}

func TestCRSBlocksAttacks(t *testing.T) {
	p, _ := wafPlugin(t)
	mpBody, mpType := multipart("comment", sqli)
	tests := []struct {
		name string
		req  request
	}{
		{"sqli_in_query_blocked", request{path: "/search?q=" + url.QueryEscape(sqli)}},
		{"xss_in_query_blocked", request{path: "/search?q=" + url.QueryEscape(xss)}},
		{"sqli_in_header_blocked", request{headers: [][2]string{{"referer", sqli}}}},
		{"xss_in_cookie_blocked", request{headers: [][2]string{{"cookie", "session=" + url.QueryEscape(xss)}}}},
		{"sqli_in_urlencoded_body_blocked", request{method: "POST", body: form("user", sqli),
			headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}}}},
		{"xss_in_urlencoded_body_blocked", request{method: "POST", body: form("comment", xss),
			headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}}}},
		{"sqli_in_json_body_blocked", request{method: "POST", body: []byte(`{"user":{"name":"` + strings.ReplaceAll(sqli, `'`, `\u0027`) + `"}}`),
			headers: [][2]string{{"content-type", "application/json"}}}},
		{"xss_in_multipart_body_blocked", request{method: "POST", body: func() []byte { b, _ := multipart("c", xss); return b }(),
			headers: [][2]string{{"content-type", mpType}}}},
		{"sqli_in_multipart_body_blocked", request{method: "POST", body: mpBody, headers: [][2]string{{"content-type", mpType}}}},
		{"scanner_user_agent_blocked", request{headers: [][2]string{{"user-agent", "sqlmap/1.7.2#stable (https://sqlmap.org)"}}}},
		{"sqli_split_across_small_chunks_blocked", request{method: "POST", body: form("user", sqli), chunk: 3,
			headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Host-driven headers replace the default user agent when the case sets one.
			o := drive(t, p, tc.req)
			if o.status() != 403 {
				t.Fatalf("status %d, want 403 (upstream saw %d body bytes)", o.status(), len(o.upstreamBody))
			}
			if o.upstreamEnded {
				t.Fatal("the request reached the upstream in full")
			}
		})
	}
}

func TestBenignRequestsPassUntouched(t *testing.T) {
	p, _ := wafPlugin(t)
	jsonBody := []byte(`{"name":"Ada Lovelace","tags":["math","engines"],"n":42}`)
	tests := []struct {
		name string
		req  request
	}{
		{"benign_get_passes", request{path: "/products?page=2&sort=price"}},
		{"benign_post_form_passes", request{method: "POST", body: form("name", "Ada", "city", "London"),
			headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}}}},
		{"benign_post_json_in_chunks_passes", request{method: "POST", body: jsonBody, chunk: 7,
			headers: [][2]string{{"content-type", "application/json"}}}},
		{"benign_response_body_passes", request{respBody: []byte("<html><body>hello</body></html>")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := drive(t, p, tc.req)
			if o.status() != 200 {
				t.Fatalf("status %d, want 200 (reply %+v)", o.status(), o.reply)
			}
			if !bytes.Equal(o.upstreamBody, tc.req.body) {
				t.Fatalf("upstream body %q, want %q", o.upstreamBody, tc.req.body)
			}
			for _, h := range tc.req.headers {
				if v, _ := o.upstreamHeaders.Get(h[0]); v != h[1] {
					t.Errorf("upstream header %s = %q, want %q", h[0], v, h[1])
				}
			}
			if !bytes.Equal(o.clientBody, tc.req.respBody) {
				t.Fatalf("client body %q, want %q", o.clientBody, tc.req.respBody)
			}
		})
	}
}

func TestPluginBehaviours(t *testing.T) {
	p, _ := wafPlugin(t)
	big := bytes.Repeat([]byte("a"), 3000)
	tests := []struct {
		name  string
		req   request
		check func(t *testing.T, o outcome)
	}{
		{"rule_status_and_request_id_in_reply", request{authority: "custom.test",
			headers: [][2]string{{"x-teapot", "yes"}, {"x-request-id", "req-42"}}},
			func(t *testing.T, o outcome) {
				wantStatus(t, o, 418)
				if v, _ := o.reply.Headers.Get("x-request-id"); v != "req-42" {
					t.Errorf("x-request-id %q", v)
				}
				if v, _ := o.reply.Headers.Get("content-type"); !strings.HasPrefix(v, "text/plain") {
					t.Errorf("content-type %q", v)
				}
				if !bytes.Contains(o.reply.Body, []byte("2006")) {
					t.Errorf("body %q", o.reply.Body)
				}
			}},
		{"redirect_action_answers_302_with_location", request{authority: "custom.test", headers: [][2]string{{"x-redirect", "yes"}}},
			func(t *testing.T, o outcome) {
				wantStatus(t, o, 302)
				if v, _ := o.reply.Headers.Get("location"); v != "https://example.com/blocked" {
					t.Errorf("location %q", v)
				}
			}},
		{"drop_action_resets_stream", request{authority: "custom.test", headers: [][2]string{{"x-drop", "yes"}}},
			func(t *testing.T, o outcome) {
				if !o.reset {
					t.Fatalf("not reset: %+v", o)
				}
			}},
		{"request_body_rule_with_trailers_blocked", request{authority: "custom.test", method: "POST", body: []byte("xx evil-body xx"),
			headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}}, trailers: wasmhost.Headers{{"x-checksum", "1"}}},
			func(t *testing.T, o outcome) { wantStatus(t, o, 403) }},
		{"phase2_deny_with_body_access_off_blocked", request{authority: "bodyoff.test", method: "POST", body: []byte("hello"),
			headers: [][2]string{{"x-phase2", "deny"}}},
			func(t *testing.T, o outcome) { wantStatus(t, o, 403) }},
		{"phase2_deny_without_body_blocked", request{authority: "bodyoff.test", headers: [][2]string{{"x-phase2", "deny"}}},
			func(t *testing.T, o outcome) { wantStatus(t, o, 403) }},
		{"body_access_off_streams_body", request{authority: "bodyoff.test", method: "POST", body: []byte("hello world"), chunk: 4},
			func(t *testing.T, o outcome) {
				wantStatus(t, o, 200)
				if string(o.upstreamBody) != "hello world" {
					t.Errorf("upstream body %q", o.upstreamBody)
				}
			}},
		{"response_header_rule_real_403", request{authority: "custom.test", respHeaders: [][2]string{{"x-leak", "yes"}}, respBody: []byte("hi")},
			func(t *testing.T, o outcome) { wantStatus(t, o, 403) }},
		{"response_body_rule_real_403", request{authority: "custom.test", respBody: []byte("<p>SECRET-TOKEN</p>")},
			func(t *testing.T, o outcome) {
				wantStatus(t, o, 403)
				if o.clientHeaders != nil {
					t.Errorf("upstream's headers reached the client: %v", o.clientHeaders)
				}
			}},
		// @recommended-conf keeps Coraza's 128 KiB in-memory limit; with no file system to spill
		// to, the plugin raises it to SecRequestBodyLimit instead of failing larger bodies.
		{"body_larger_than_coraza_in_memory_limit_passes", request{method: "POST", body: formBody(140 << 10), chunk: 16 << 10,
			headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}}},
			func(t *testing.T, o outcome) {
				wantStatus(t, o, 200)
				if len(o.upstreamBody) != 140<<10 {
					t.Errorf("upstream got %d bytes, want %d", len(o.upstreamBody), 140<<10)
				}
			}},
		{"attack_after_in_memory_limit_blocked", request{method: "POST", body: append(formBody(140<<10), "&q=1'+OR+'1'='1"...), chunk: 16 << 10,
			headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}}},
			func(t *testing.T, o outcome) { wantStatus(t, o, 403) }},
		{"body_limit_reject_413", request{authority: "reject.test", method: "POST", body: big, chunk: 512,
			headers: [][2]string{{"content-type", "text/plain"}}},
			func(t *testing.T, o outcome) {
				wantStatus(t, o, 413)
				if string(o.reply.Body) != "Request body exceeds the WAF's limit.\n" || o.reply.Details != "meshwaf_request_body_limit" {
					t.Errorf("reply %q (details %q)", o.reply.Body, o.reply.Details)
				}
			}},
		{"response_body_limit_reject_says_so", request{authority: "respreject.test", respBody: bytes.Repeat([]byte("b"), 300)},
			func(t *testing.T, o outcome) {
				wantStatus(t, o, 500)
				if string(o.reply.Body) != "Response body exceeds the WAF's limit.\n" || o.reply.Details != "meshwaf_response_body_limit" {
					t.Errorf("reply %q (details %q)", o.reply.Body, o.reply.Details)
				}
				if o.clientHeaders != nil {
					t.Errorf("upstream's headers reached the client: %v", o.clientHeaders)
				}
			}},
		{"body_limit_partial_passes_tail", request{authority: "partial.test", method: "POST", body: append(append([]byte{}, big...), []byte("evil-body")...), chunk: 512,
			headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}}},
			func(t *testing.T, o outcome) {
				wantStatus(t, o, 200)
				if len(o.upstreamBody) != len(big)+len("evil-body") {
					t.Errorf("upstream got %d bytes", len(o.upstreamBody))
				}
			}},
		{"body_limit_partial_inspects_head", request{authority: "partial.test", method: "POST", body: append([]byte("evil-body"), big...), chunk: 512,
			headers: [][2]string{{"content-type", "application/x-www-form-urlencoded"}}},
			func(t *testing.T, o outcome) { wantStatus(t, o, 403) }},
		{"response_body_limit_partial_passes_tail", request{authority: "resplimit.test", respBody: append(bytes.Repeat([]byte("b"), 200), "SECRET-TOKEN"...)},
			func(t *testing.T, o outcome) {
				wantStatus(t, o, 200)
				if len(o.clientBody) != 212 {
					t.Errorf("client got %d bytes", len(o.clientBody))
				}
			}},
		{"response_body_limit_partial_inspects_head", request{authority: "resplimit.test", respBody: append([]byte("SECRET-TOKEN"), bytes.Repeat([]byte("b"), 200)...)},
			func(t *testing.T, o outcome) { wantStatus(t, o, 403) }},
		{"exact_authority_selects_set", request{authority: "api.test:8443", headers: [][2]string{{"x-set", "1"}}},
			func(t *testing.T, o outcome) { wantReplyRule(t, o, 5001) }},
		{"portless_host_selects_set", request{authority: "api.test:9999", headers: [][2]string{{"x-set", "1"}}},
			func(t *testing.T, o outcome) { wantReplyRule(t, o, 5002) }},
		{"wildcard_selects_set", request{authority: "a.b.wild.test", headers: [][2]string{{"x-set", "1"}}},
			func(t *testing.T, o outcome) { wantReplyRule(t, o, 5003) }},
		{"default_set_for_other_authorities", request{authority: "elsewhere.test", headers: [][2]string{{"x-set", "1"}}},
			func(t *testing.T, o outcome) { wantStatus(t, o, 200) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, drive(t, p, tc.req)) })
	}
}

func wantStatus(t *testing.T, o outcome, status int) {
	t.Helper()
	if o.status() != status {
		t.Fatalf("status %d, want %d (reply %+v, reset %t)", o.status(), status, o.reply, o.reset)
	}
}

func wantReplyRule(t *testing.T, o outcome, rule int) {
	t.Helper()
	if o.reply == nil || !bytes.Contains(o.reply.Body, fmt.Appendf(nil, "rule %d", rule)) {
		t.Fatalf("want a reply from rule %d, got %+v", rule, o.reply)
	}
}

func TestDetectionOnlyCountsAndLogsButPasses(t *testing.T) {
	p, logs := wafPlugin(t)
	o := drive(t, p, request{authority: "detect.test", path: "/?q=" + url.QueryEscape(sqli)})
	wantStatus(t, o, 200)
	if _, ok := logs.Find(`[id "942100"]`); !ok {
		t.Error(`no log line with [id "942100"]`)
	}
	if _, ok := logs.Find("would have interrupted"); !ok {
		t.Error("no DetectionOnly interruption line")
	}
	if v := metric(p, "waf_filter.tx.category=.=sqli;.;authority=.=detect.test;.;owner=.=team-a;.;matched_rules"); v < 1 {
		t.Errorf("matched_rules sqli counter %d", v)
	}
}

func TestMetricsAndLogLines(t *testing.T) {
	p, logs := wafPlugin(t)
	before := metric(p, "waf_filter.tx.owner=.=team-a;.;total")
	drive(t, p, request{authority: "my-app.test:8080", path: "/?id=" + url.QueryEscape(sqli)})
	if got := metric(p, "waf_filter.tx.owner=.=team-a;.;total"); got != before+1 {
		t.Errorf("tx.total %d, want %d", got, before+1)
	}
	if v := metric(p, "waf_filter.tx.ruleid=.=949110;.;phase=.=request-body;.;authority=.=default;.;owner=.=team-a;.;interruptions"); v < 1 {
		t.Errorf("interruption counter %d; metrics %v", v, p.Metrics().Map())
	}
	line, ok := logs.Find(`[id "942100"]`)
	if !ok {
		t.Fatal(`no log line with [id "942100"]`)
	}
	if !strings.HasPrefix(line, "[critical]") || !strings.Contains(line, `[msg "SQL Injection Attack Detected via libinjection"]`) {
		t.Errorf("log line %q", line)
	}
	// 949110 has no severity; as the rule that denied the request it logs at warn, not info.
	// (DetectionOnly's 949110 lines, which deny nothing, stay at info.)
	denied := 0
	for _, l := range logs.Lines() {
		if strings.Contains(l, `[id "949110"]`) && strings.Contains(l, "Access denied") {
			denied++
			if !strings.HasPrefix(l, "[warn]") {
				t.Errorf("blocking rule's log line %q, want it at warn", l)
			}
		}
	}
	if denied == 0 {
		t.Error(`no "Access denied" log line with [id "949110"]`)
	}
}

func TestMetricAuthorityIsTheRoutingEntry(t *testing.T) {
	p, _ := wafPlugin(t)
	// Every Host a client invents under the default set shares one label: stats stay bounded.
	for i := range 3 {
		drive(t, p, request{authority: fmt.Sprintf("random-%d.attacker.test:%d", i, 8000+i), path: "/?id=" + url.QueryEscape(sqli)})
	}
	drive(t, p, request{authority: "x.y.wild.test", headers: [][2]string{{"x-set", "1"}}})
	for n := range p.Metrics().Map() {
		if strings.Contains(n, "attacker") || strings.Contains(n, "x.y.wild") {
			t.Errorf("metric %s is labelled with the client's authority", n)
		}
	}
	if v := metric(p, "waf_filter.tx.ruleid=.=949110;.;phase=.=request-body;.;authority=.=default;.;owner=.=team-a;.;interruptions"); v < 3 {
		t.Errorf("default-set interruptions %d, want at least 3", v)
	}
	if v := metric(p, "waf_filter.tx.ruleid=.=5003;.;phase=.=request-headers;.;authority=.=-.wild.test;.;owner=.=team-a;.;interruptions"); v < 1 {
		t.Errorf("wildcard entry counter %d; metrics %v", v, p.Metrics().Map())
	}
}

func TestBodyLimitRejectLogsTheLimit(t *testing.T) {
	p, logs := wafPlugin(t)
	tests := []struct {
		name, want, metricName string
		req                    request
	}{
		{"request_body", `transaction limit-req: request body exceeds SecRequestBodyLimit 1000 of directive set "reject" (Reject): status 413`,
			"waf_filter.tx.ruleid=.=0;.;phase=.=request-body;.;authority=.=reject.test;.;owner=.=team-a;.;interruptions",
			request{authority: "reject.test", method: "POST", body: bytes.Repeat([]byte("a"), 3000), chunk: 512,
				headers: [][2]string{{"content-type", "text/plain"}, {"x-request-id", "limit-req"}}}},
		{"response_body", `transaction limit-resp: response body exceeds SecResponseBodyLimit 100 of directive set "respreject" (Reject): status 500`,
			"waf_filter.tx.ruleid=.=0;.;phase=.=response-body;.;authority=.=respreject.test;.;owner=.=team-a;.;interruptions",
			request{authority: "respreject.test", respBody: bytes.Repeat([]byte("b"), 300), headers: [][2]string{{"x-request-id", "limit-resp"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := metric(p, tc.metricName)
			drive(t, p, tc.req)
			line, ok := logs.Find(tc.want)
			if !ok || !strings.HasPrefix(line, "[warn] meshwaf: ") {
				t.Errorf("no warn line with %q: %q", tc.want, line)
			}
			if got := metric(p, tc.metricName); got != before+1 {
				t.Errorf("%s = %d, want %d", tc.metricName, got, before+1)
			}
		})
	}
}

func TestBenignResponseCountsNoCategory(t *testing.T) {
	p, _ := wafPlugin(t)
	matched := func() map[string]int64 {
		out := map[string]int64{}
		for n, v := range p.Metrics().Map() {
			if strings.HasPrefix(n, "waf_filter.tx.") && strings.HasSuffix(n, ";.;matched_rules") {
				out[n] = v
			}
		}
		return out
	}
	before := matched()
	// CRS inspects this body (text/html): its flow-control rules, such as 951100's negated
	// @pmFromFile, match on it without detecting anything.
	o := drive(t, p, request{path: "/products", respBody: []byte("<html><body><p>Hello, world</p></body></html>")})
	wantStatus(t, o, 200)
	for n, v := range matched() {
		if v != before[n] {
			t.Errorf("%s went from %d to %d for a benign exchange", n, before[n], v)
		}
	}
}

func metric(p *wasmhost.Plugin, name string) int64 {
	if m, ok := p.Metrics().Get(name); ok {
		return m.Value
	}
	return 0
}

func TestBadConfigurationRefused(t *testing.T) {
	m := wafModule(t)
	tests := []struct{ name, config, want string }{
		{"invalid_json", `{"directives_map":`, "configuration: invalid JSON"},
		{"wrong_type", `{"directives_map":{"a":"SecRuleEngine On"}}`, "directives_map: want an object"},
		{"unknown_default", `{"directives_map":{"a":[]},"default_directives":"b"}`, `default_directives: "b" names no entry`},
		{"unknown_authority_target", `{"directives_map":{"a":[]},"per_authority_directives":{"x":"b"}}`, `per_authority_directives["x"]: "b" names no entry`},
		{"validate_schema", `{"directives_map":{"a":["SecRule REQUEST_BODY \"@validateSchema /schema.json\" \"id:1,phase:2,deny\""]}}`, `directives_map["a"] line 1 (SecRule): invalid WAF config from string: failed to compile the directive "secrule": @validateSchema is not available in meshwaf`},
		{"empty_map", `{"directives_map":{}}`, "directives_map: no directive sets"},
		{"unknown_directive", `{"directives_map":{"api":["SecRuleEngine On","Include @recommended-conf","SecRuleEngin On"]}}`, `directives_map["api"] line 3 (SecRuleEngin)`},
		{"bad_rule_syntax", `{"directives_map":{"a":["SecRule ARGS \"@rx (\" \"id:1,phase:1,deny\""]}}`, `directives_map["a"] line 1 (SecRule)`},
		{"missing_include", `{"directives_map":{"a":["Include @nope-conf"]}}`, `directives_map["a"] line 1 (Include @nope-conf): not found`},
		{"bad_logdata", `{"directives_map":{"a":["SecRuleEngine On","SecAction \"id:1,pass,logdata:'%{nosuchvar}'\""]}}`, `directives_map["a"] line 2 (SecAction): invalid WAF config from string: failed to compile the directive "secaction": unknown variable "nosuchvar"`},
		{"debug_log_file", `{"directives_map":{"a":["SecDebugLog /var/log/coraza.log"]}}`, `directives_map["a"] line 1 (SecDebugLog): /var/log/coraza.log: a Wasm module has no file system: use SecDebugLog /dev/stdout`},
		{"audit_log_https", `{"directives_map":{"a":["SecAuditEngine On","SecAuditLogType HTTPS","SecAuditLog https://logs.example.com/"]}}`, `directives_map["a"] line 2 (SecAuditLogType): invalid WAF config from audit log: SecAuditLogType HTTPS cannot work in a Wasm module`},
		{"audit_log_syslog", `{"directives_map":{"a":["SecAuditEngine On","SecAuditLogType Syslog"]}}`, `directives_map["a"] line 2 (SecAuditLogType): invalid WAF config from audit log: SecAuditLogType Syslog cannot work in a Wasm module`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &wasmtest.LogRecorder{}
			p, err := m.NewPlugin(context.Background(), wasmhost.WithPluginConfig([]byte(tc.config)), wasmhost.WithLogger(rec.Log))
			if err == nil {
				p.Close(context.Background())
				t.Fatal("configuration accepted")
			}
			line, ok := rec.Find("plugin configuration refused")
			if !ok {
				t.Fatalf("no refusal log line; error %v", err)
			}
			if !strings.Contains(line, tc.want) || !strings.HasPrefix(line, "[error]") {
				t.Fatalf("log line %q lacks %q", line, tc.want)
			}
		})
	}
}

func TestEveryConfigurationErrorLogged(t *testing.T) {
	m := wafModule(t)
	rec := &wasmtest.LogRecorder{}
	cfg := `{"directives_map":{"a":["SecRuleEngin On"],"b":["SecRuleEngine On"],"c":["Include @nope-conf"]},
		"default_directives":"b","metric_labels":{"Team":"x","ruleid":"y"}}`
	if p, err := m.NewPlugin(context.Background(), wasmhost.WithPluginConfig([]byte(cfg)), wasmhost.WithLogger(rec.Log)); err == nil {
		p.Close(context.Background())
		t.Fatal("configuration accepted")
	}
	// ParseConfig's mistakes come first; the sets are compiled only once the keys are right.
	if n := rec.Count("plugin configuration refused"); n != 1 {
		t.Fatalf("%d refusal lines, want 1 (metric_labels): %q", n, rec.Lines())
	}
	rec.Reset()
	cfg = `{"directives_map":{"a":["SecRuleEngin On"],"b":["SecRuleEngine On"],"c":["Include @nope-conf"]},"default_directives":"b"}`
	if p, err := m.NewPlugin(context.Background(), wasmhost.WithPluginConfig([]byte(cfg)), wasmhost.WithLogger(rec.Log)); err == nil {
		p.Close(context.Background())
		t.Fatal("configuration accepted")
	}
	for _, want := range []string{`directives_map["a"] line 1 (SecRuleEngin)`, `directives_map["c"] line 1 (Include @nope-conf)`} {
		if line, ok := rec.Find(want); !ok || !strings.HasPrefix(line, "[error] meshwaf: plugin configuration refused: ") {
			t.Errorf("no refusal line with %q: %q", want, rec.Lines())
		}
	}
	if n := rec.Count("plugin configuration refused"); n != 2 {
		t.Errorf("%d refusal lines, want 2: %q", n, rec.Lines())
	}
}

// TestLoggingPhaseRunsOnceEvenForResetStreams: whether a stream completes or is reset while
// the plugin holds part of it, phase 5 runs exactly once (its rule matches once, one audit
// entry) and the transaction is closed once (Coraza's debug line "Transaction finished").
func TestLoggingPhaseRunsOnceEvenForResetStreams(t *testing.T) {
	p, logs := newPlugin(t, oneSet("SecRuleEngine On", "SecDebugLogLevel 4",
		"SecAuditEngine On", "SecAuditLogType Proxy", "SecAuditLogFormat JSON", "SecAuditLogParts ABFHZ",
		"SecResponseBodyAccess On", "SecResponseBodyMimeType text/html",
		`SecAction "id:7001,phase:5,pass,log,msg:'logging phase'"`))
	responseHeld := func(t *testing.T, s *wasmhost.Stream, st wasmhost.Step, err error) {
		t.Helper()
		if err != nil || st.Headers != nil || st.Reply != nil || !s.Held(true) {
			t.Fatalf("response not held for the body's verdict: %+v, %v", st, err)
		}
	}
	tests := []struct {
		name  string
		drive func(t *testing.T, s *wasmhost.Stream, id string)
	}{
		{"completed_stream", func(t *testing.T, s *wasmhost.Stream, id string) {
			mustStep(t)(s.RequestHeaders(requestHeaders("audit.test", id), true))
			mustStep(t)(s.ResponseHeaders(wasmhost.Headers{{":status", "200"}}, true))
		}},
		{"completed_stream_with_inspected_response_body", func(t *testing.T, s *wasmhost.Stream, id string) {
			mustStep(t)(s.RequestHeaders(requestHeaders("audit.test", id), true))
			st, err := s.ResponseHeaders(wasmhost.Headers{{":status", "200"}, {"content-type", "text/html"}}, false)
			responseHeld(t, s, st, err)
			if st, err := s.ResponseBody([]byte("<p>hello</p>"), true); err != nil || !st.EndOfStream {
				t.Fatalf("response not released at its end: %+v, %v", st, err)
			}
		}},
		{"reset_while_request_body_held", func(t *testing.T, s *wasmhost.Stream, id string) {
			mustStep(t)(s.RequestHeaders(requestHeaders("audit.test", id), false))
			mustStep(t)(s.RequestBody([]byte("a=1"), false))
		}},
		{"reset_while_response_headers_held", func(t *testing.T, s *wasmhost.Stream, id string) {
			mustStep(t)(s.RequestHeaders(requestHeaders("audit.test", id), true))
			st, err := s.ResponseHeaders(wasmhost.Headers{{":status", "200"}, {"content-type", "text/html"}}, false)
			responseHeld(t, s, st, err)
		}},
		{"reset_while_response_body_held", func(t *testing.T, s *wasmhost.Stream, id string) {
			mustStep(t)(s.RequestHeaders(requestHeaders("audit.test", id), true))
			st, err := s.ResponseHeaders(wasmhost.Headers{{":status", "200"}, {"content-type", "text/html"}}, false)
			responseHeld(t, s, st, err)
			st, err = s.ResponseBody([]byte("<p>first part"), false)
			responseHeld(t, s, st, err)
		}},
		{"reset_before_any_event", func(t *testing.T, s *wasmhost.Stream, id string) {}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("audit-%d-%s", i, tc.name)
			s, err := p.NewStream(context.Background(), wasmhost.StreamInfo{SourceAddress: "10.1.2.3:1000", DestinationAddress: "10.0.0.1:80"})
			if err != nil {
				t.Fatal(err)
			}
			tc.drive(t, s, id)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.name == "reset_before_any_event" {
				return // no request headers: no transaction, nothing to log
			}
			if n := len(auditEntries(logs, id)); n != 1 {
				t.Errorf("%d JSON audit entries for %s, want 1", n, id)
			}
			phase5 := 0
			for _, l := range logs.Lines() {
				if strings.Contains(l, `[msg "logging phase"]`) && strings.Contains(l, `[unique_id "`+id+`"]`) {
					phase5++
				}
			}
			if phase5 != 1 {
				t.Errorf("the phase-5 rule matched %d times for %s, want 1", phase5, id)
			}
			closed := 0
			for _, l := range logs.Lines() {
				if strings.Contains(l, "Transaction finished") && strings.Contains(l, `tx_id="`+id+`"`) {
					closed++
				}
			}
			if closed != 1 {
				t.Errorf("transaction %s closed %d times, want 1", id, closed)
			}
		})
	}
}

func requestHeaders(authority, id string) wasmhost.Headers {
	return wasmhost.Headers{{":method", "POST"}, {":path", "/"}, {":authority", authority},
		{"content-type", "application/x-www-form-urlencoded"}, {"x-request-id", id}}
}

func mustStep(t *testing.T) func(wasmhost.Step, error) {
	return func(_ wasmhost.Step, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestThroughHTTPProxy(t *testing.T) {
	p, _ := wafPlugin(t)
	var mu sync.Mutex
	var got []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+string(b))
		mu.Unlock()
		w.Header().Set("content-type", "text/plain")
		fmt.Fprint(w, "upstream ok")
	}))
	defer upstream.Close()
	px, err := wasmhost.NewProxy(p, upstream.URL, wasmhost.WithChunkSize(5))
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(px)
	defer front.Close()

	tests := []struct {
		name, method, path, body string
		status                   int
		reached                  bool
	}{
		{"benign_post_reaches_upstream_byte_for_byte", "POST", "/form", "name=Ada&city=London%20Town", 200, true},
		{"sqli_post_blocked_before_upstream", "POST", "/form", "name=" + url.QueryEscape(sqli), 403, false},
		{"xss_query_blocked_before_upstream", "GET", "/?q=" + url.QueryEscape(xss), "", 403, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			req, _ := http.NewRequest(tc.method, front.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("content-type", "application/x-www-form-urlencoded")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", res.StatusCode, tc.status, body)
			}
			mu.Lock()
			defer mu.Unlock()
			if tc.reached {
				if want := tc.method + " " + tc.path + " " + tc.body; len(got) != 1 || got[0] != want {
					t.Fatalf("upstream saw %q, want %q", got, want)
				}
				if string(body) != "upstream ok" {
					t.Fatalf("client body %q", body)
				}
			} else if len(got) != 0 {
				t.Fatalf("upstream saw %q", got)
			}
		})
	}
}

func TestEmbeddedConfigsAndDebugLog(t *testing.T) {
	m := wafModule(t)
	tests := []struct {
		name     string
		set      []string
		req      request
		status   int
		wantLogs []string
	}{
		{"demo_conf_blocks_its_demo_rule", []string{"Include @demo-conf"},
			request{path: "/?id=0"}, 403, []string{`[id "101"]`}},
		{"ftw_conf_logs_the_marker", []string{"Include @recommended-conf", "Include @crs-setup-conf", "Include @ftw-conf", "Include @owasp_crs/*.conf"},
			request{headers: [][2]string{{"x-crs-test", "920100-1-abc-s"}}}, 200, []string{`[id "999999"]`, `X-CRS-Test 920100-1-abc-s`}},
		{"debug_log_level_reaches_the_proxy_log", []string{"SecDebugLogLevel 9", "SecRuleEngine On"},
			request{}, 200, []string{`[debug] coraza[t]: Evaluating phase`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := json.Marshal(map[string]any{"directives_map": map[string][]string{"t": tc.set}, "default_directives": "t"})
			rec := &wasmtest.LogRecorder{}
			p, err := m.NewPlugin(context.Background(), wasmhost.WithPluginConfig(cfg), wasmhost.WithLogger(rec.Log), wasmhost.WithLogLevel(wasmhost.LogTrace))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(context.Background())
			wantStatus(t, drive(t, p, tc.req), tc.status)
			for _, w := range tc.wantLogs {
				if _, ok := rec.Find(w); !ok {
					t.Errorf("no log line with %q in %q", w, rec.Lines())
				}
			}
		})
	}
}

// formBody is a benign urlencoded body of exactly n bytes, in fields of ordinary size (one huge
// field would make every CRS expression scan it, which tests nothing more and is slow).
func formBody(n int) []byte {
	var b []byte
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, "field%d=%s&", i, bytes.Repeat([]byte("v"), 4000))
	}
	b = b[:n]
	b[n-1] = 'v' // do not end on a separator
	return b
}

// A response-body block must log the rules that matched in phase 4, as a request block logs
// its phase-1/2 rules: operators read the log to learn why a response was refused.
func TestResponseBodyBlockLogsItsRules(t *testing.T) {
	p, logs := wafPlugin(t)
	logs.Reset()
	o := drive(t, p, request{path: "/report", respHeaders: [][2]string{{"content-type", "text/html"}},
		respBody: []byte("<html><body>Warning: You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near ''' at line 1</body></html>")})
	wantStatus(t, o, 403)
	for _, id := range []string{"951230", "959100"} {
		if _, ok := logs.Find(`[id "` + id + `"]`); !ok {
			t.Errorf("no log line for rule %s; log:\n%s", id, strings.Join(logs.Lines(), "\n"))
		}
	}
}

// TestLogDataPerRequest drives the compiled module: the logdata of each match is the request's
// own (meshwaf's logdata action reuses the last expansion of a text when its values are the
// same), for two rules sharing a text and across requests, and %{rule.logdata} holds the text
// expanded when the rule's evaluation started.
func TestLogDataPerRequest(t *testing.T) {
	const shared = "Matched Data: %{TX.0} found within %{MATCHED_VAR_NAME}: %{MATCHED_VAR}"
	set := []string{
		"SecRuleEngine On",
		`SecRule ARGS:q "@rx (a+)b" "id:11,phase:1,pass,log,capture,logdata:'` + shared + `',setvar:'tx.started=%{rule.logdata}'"`,
		`SecRule ARGS:q "@rx c" "id:12,phase:1,pass,log,logdata:'` + shared + `'"`,
		`SecRule TX:started "@rx ." "id:13,phase:1,pass,log,logdata:'rule 11 started with: %{tx.started}'"`,
	}
	cfg, _ := json.Marshal(map[string]any{"directives_map": map[string][]string{"t": set}, "default_directives": "t"})
	rec := &wasmtest.LogRecorder{}
	p, err := wafModule(t).NewPlugin(context.Background(), wasmhost.WithPluginConfig(cfg), wasmhost.WithLogger(rec.Log))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"xaabc", []string{
			`[id "11"] [rev ""] [msg ""] [data "Matched Data: aab found within ARGS:q: xaabc"]`,
			`[id "12"] [rev ""] [msg ""] [data "Matched Data: aab found within ARGS:q: xaabc"]`,
			`[id "13"] [rev ""] [msg ""] [data "rule 11 started with: Matched Data:  found within : "]`}},
		{"abc", []string{
			`[id "11"] [rev ""] [msg ""] [data "Matched Data: ab found within ARGS:q: abc"]`,
			`[id "12"] [rev ""] [msg ""] [data "Matched Data: ab found within ARGS:q: abc"]`}},
		// Longer than the expansions kept for reuse; Coraza's log line shortens the data.
		{strings.Repeat("a", 300) + "bc", []string{
			`[id "11"] [rev ""] [msg ""] [data "Matched Data: ` + strings.Repeat("a", 150)}},
	} {
		rec.Reset()
		wantStatus(t, drive(t, p, request{path: "/?q=" + tc.q}), 200)
		for _, w := range tc.want {
			if _, ok := rec.Find(w); !ok {
				t.Errorf("q=%.20s…: no log line with %.120q in\n%s", tc.q, w, strings.Join(rec.Lines(), "\n"))
			}
		}
	}
}
