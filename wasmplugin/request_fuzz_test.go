//go:build !wasip1

package wasmplugin_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// FuzzRequest drives whole requests through the compiled module in the host: method, path,
// headers (one "name: value" a line), a body split at the given points, optional trailers,
// and a response. Whatever the input, no event may trap or fail, the plugin may not panic
// (its recovered panics answer 500), and the stream must end in a verdict: passed upstream in
// full, a local reply or a reset. The plugin is started once per fuzz worker (wafPlugin), so
// one execution costs one request. Seeds: testdata/fuzz/FuzzRequest.
func FuzzRequest(f *testing.F) {
	f.Add("GET", "/search?q=1%27%20OR%201=1--", "user-agent: curl/8\naccept: */*", []byte(nil), uint16(0), uint16(0), false)
	f.Add("POST", "/form", "content-type: application/x-www-form-urlencoded", []byte("user=1'+OR+'1'='1"), uint16(3), uint16(9), true)
	f.Add("POST", "/upload", "content-type: multipart/form-data; boundary=B", []byte("--B\r\nContent-Disposition: form-data; name=\"a\"; filename=\"x.php\"\r\n\r\n<?php ?>\r\n--B--\r\n"), uint16(10), uint16(40), false)
	f.Add("PUT", "/api", "content-type: application/json\ncontent-type: text/xml", []byte(`{"a":[1,{"b":"<script>"}]}`), uint16(1), uint16(2), true)
	f.Add("POST", "/xml", "content-type: text/xml", []byte(`<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>`), uint16(5), uint16(5), false)
	// The module's compilation and the CRS load (seconds, more on a busy machine) happen here,
	// once per process: in a fuzz worker each input has 10 s before the worker is killed as
	// hung, which the first input would otherwise spend on them.
	wafPlugin(f)
	f.Fuzz(func(t *testing.T, method, path, rawHeaders string, body []byte, split1, split2 uint16, withTrailers bool) {
		// Bounded so one execution stays about a millisecond: CRS over a large body costs
		// about 40 µs a byte in Wasm (docs/security.md); the soak covers large bodies.
		body, rawHeaders, path = body[:min(len(body), 2048)], rawHeaders[:min(len(rawHeaders), 2048)], path[:min(len(path), 1024)]
		p, _ := wafPlugin(t)
		r := request{method: token(method, "GET"), path: requestPath(path)}
		for _, line := range strings.Split(rawHeaders, "\n") {
			name, value, ok := strings.Cut(line, ":")
			name = token(strings.ToLower(strings.TrimSpace(name)), "")
			if !ok || name == "" {
				continue
			}
			r.headers = append(r.headers, [2]string{name, fieldValue(value)})
		}
		if withTrailers {
			r.trailers = wasmhost.Headers{{"x-trailer", fieldValue(rawHeaders)}}
		}
		fuzzDrive(t, p, r, body, int(split1), int(split2))
	})
}

// fuzzDrive is drive with the body split at two points and every outcome checked.
func fuzzDrive(t *testing.T, p *wasmhost.Plugin, r request, body []byte, a, b int) {
	t.Helper()
	s, err := p.NewStream(t.Context(), wasmhost.StreamInfo{SourceAddress: "10.1.2.3:54321", DestinationAddress: "10.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	var ended, released bool
	var check func(string, wasmhost.Step, error) bool
	step := func(what string) func(wasmhost.Step, error) bool {
		return func(st wasmhost.Step, err error) bool { return check(what, st, err) }
	}
	check = func(what string, st wasmhost.Step, err error) bool {
		t.Helper()
		switch {
		case errors.Is(err, wasmhost.ErrPluginFailed):
			t.Fatalf("%s: the plugin trapped: %v", what, err)
		case err != nil:
			t.Fatalf("%s: %v", what, err)
		case st.Reply != nil && st.Reply.Status >= 500:
			t.Fatalf("%s: the plugin failed the request: %d %s (%s)", what, st.Reply.Status, st.Reply.Body, st.Reply.Details)
		case st.Reply != nil || st.Reset:
			ended = true
		}
		released = released || st.EndOfStream
		return ended
	}
	h := wasmhost.Headers{{":method", r.method}, {":path", r.path}, {":authority", "app.test"}, {":scheme", "http"}}
	h = append(h, r.headers...)
	cuts := []int{min(a, len(body)), min(max(a, b), len(body)), len(body)}
	func() bool {
		if step("request headers")(s.RequestHeaders(h, len(body) == 0 && r.trailers == nil)) {
			return true
		}
		prev := 0
		for i, c := range cuts {
			last := i == len(cuts)-1
			if c == prev && !last || len(body) == 0 {
				continue
			}
			if step("request body")(s.RequestBody(body[prev:c], last && r.trailers == nil)) {
				return true
			}
			prev = c
		}
		if r.trailers != nil && step("request trailers")(s.RequestTrailers(r.trailers)) {
			return true
		}
		if !released {
			t.Fatal("the request was neither answered nor released upstream")
		}
		if step("response headers")(s.ResponseHeaders(wasmhost.Headers{{":status", "200"}, {"content-type", "text/html"}}, false)) {
			return true
		}
		return step("response body")(s.ResponseBody(body, true))
	}()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// token keeps the bytes of s allowed in an HTTP token (method, header name); Envoy's codec
// refuses anything else before a filter runs. def replaces an empty result.
func token(s, def string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c > ' ' && c < 0x7f && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(c)) {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return def
	}
	return b.String()
}

// fieldValue drops the bytes Envoy refuses in a header value (NUL, CR, LF) and the
// surrounding white space it strips.
func fieldValue(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == 0 || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s))
}

// requestPath makes s an origin-form target as Envoy passes it: starting with "/", no
// white space or control bytes.
func requestPath(s string) string {
	s = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if !strings.HasPrefix(s, "/") {
		s = "/" + s
	}
	return s
}
