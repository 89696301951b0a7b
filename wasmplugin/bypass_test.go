//go:build !wasip1

package wasmplugin_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// The bypass corpus: attacks dressed up the ways clients use to slip past a WAF. Every case
// runs against the full CRS in blocking mode and must be blocked or rejected (a 4xx) without
// reaching the upstream. docs/security.md lists the techniques and the figures.

// TestBypassCorpusStream drives the techniques where the split into events matters through
// the stream API: body chunks and their boundaries, trailers, repeated headers.
func TestBypassCorpusStream(t *testing.T) {
	p, _ := wafPlugin(t)
	formType := [2]string{"content-type", "application/x-www-form-urlencoded"}
	sqliForm := form("user", sqli)
	mp := func(parts ...string) []byte {
		return []byte("--B\r\n" + strings.Join(parts, "\r\n--B\r\n") + "\r\n--B--\r\n")
	}
	mpType := [2]string{"content-type", "multipart/form-data; boundary=B"}
	tests := []struct {
		technique string
		req       request
	}{
		{"body_split_one_byte_per_chunk", request{method: "POST", body: sqliForm, chunk: 1, headers: [][2]string{formType}}},
		{"body_split_inside_keyword_at_chunk_boundary", request{method: "POST", chunk: len("user=1%27+OR+%271%27%3D%271%27+UNI"),
			body: sqliForm, headers: [][2]string{formType}}},
		{"body_attack_in_last_chunk_after_benign_megabyte_prefix", request{method: "POST", chunk: 16 << 10,
			body: append(formBody(64<<10), []byte("&user="+url.QueryEscape(sqli))...), headers: [][2]string{formType}}},
		{"body_then_trailers", request{method: "POST", body: sqliForm, chunk: 8, headers: [][2]string{formType},
			trailers: wasmhost.Headers{{"x-checksum", "abc"}}}},
		{"attack_in_request_trailer", request{method: "POST", body: form("a", "b"), headers: [][2]string{formType},
			trailers: wasmhost.Headers{{"referer", sqli}}}},
		{"duplicate_header_attack_in_second_value", request{headers: [][2]string{{"referer", "https://example.com/"}, {"referer", sqli}}}},
		{"mixed_case_header_name", request{headers: [][2]string{{"ReFeReR", sqli}}}},
		{"multiple_content_type_headers", request{method: "POST", body: sqliForm,
			headers: [][2]string{{"content-type", "text/plain"}, formType}}},
		{"content_type_with_parameters_and_case", request{method: "POST", body: sqliForm,
			headers: [][2]string{{"content-type", "Application/X-WWW-Form-URLEncoded ; charset=UTF-8"}}}},
		{"percent_encoded_query", request{path: "/?q=%31%27%20%4f%52%20%27%31%27%3d%27%31%27%20%55%4e%49%4f%4e%20%53%45%4c%45%43%54%20password%20FROM%20users--"}},
		{"double_percent_encoded_query", request{path: "/?q=%253Cscript%253Ealert(document.cookie)%253C%252Fscript%253E"}},
		{"utf8_overlong_path_traversal", request{path: "/static/..%c0%af..%c0%af..%c0%afetc/passwd"}},
		{"utf8_overlong_angle_brackets", request{path: "/?q=%c0%bcscript%c0%bealert(1)%c0%bc/script%c0%be"}},
		{"unicode_percent_u_encoding", request{path: "/?q=%u003cscript%u003ealert(1)%u003c/script%u003e"}},
		{"html_entity_encoded_xss", request{path: "/?q=" + url.QueryEscape("<img src=x onerror=&#97;&#108;&#101;&#114;&#116;(1)>")}},
		{"multipart_missing_boundary", request{method: "POST", body: mp("Content-Disposition: form-data; name=\"c\"\r\n\r\n" + sqli),
			headers: [][2]string{{"content-type", "multipart/form-data"}}}},
		{"multipart_nested_mixed_part", request{method: "POST", headers: [][2]string{mpType},
			body: mp("Content-Disposition: form-data; name=\"files\"\r\nContent-Type: multipart/mixed; boundary=C\r\n\r\n" +
				"--C\r\nContent-Disposition: file; filename=\"a.txt\"\r\n\r\n" + sqli + "\r\n--C--")}},
		{"multipart_php_filename", request{method: "POST", headers: [][2]string{mpType},
			body: mp("Content-Disposition: form-data; name=\"f\"; filename=\"shell.php\"\r\nContent-Type: image/png\r\n\r\n<?php system($_GET['c']); ?>")}},
		{"multipart_traversal_filename", request{method: "POST", headers: [][2]string{mpType},
			body: mp("Content-Disposition: form-data; name=\"f\"; filename=\"../../../etc/passwd\"\r\n\r\nx")}},
		{"multipart_unquoted_and_duplicate_name", request{method: "POST", headers: [][2]string{mpType},
			body: mp("Content-Disposition: form-data; name=c; name=\"d\"\r\n\r\n" + xss)}},
		{"multipart_boundary_split_across_chunks", request{method: "POST", headers: [][2]string{mpType}, chunk: 3,
			body: mp("Content-Disposition: form-data; name=\"c\"\r\n\r\n" + sqli)}},
		{"json_unicode_escaped_sqli", request{method: "POST", headers: [][2]string{{"content-type", "application/json"}},
			body: []byte(`{"q":"1\u0027 OR \u00271\u0027=\u00271\u0027 UNION SELECT password FROM users--"}`)}},
	}
	for _, tc := range tests {
		t.Run(tc.technique, func(t *testing.T) {
			o := drive(t, p, tc.req)
			if s := o.status(); s < 400 || s > 499 {
				t.Fatalf("technique %s got through: status %d", tc.technique, s)
			}
			if o.upstreamEnded {
				t.Fatalf("technique %s: the request reached the upstream in full", tc.technique)
			}
		})
	}
}

// TestBypassCorpusRawHTTP sends raw bytes over TCP to the HTTP proxy in front of the plugin,
// for the techniques that live in the wire format: chunked encoding, HTTP/1.0, absolute-form
// targets, header case and size.
func TestBypassCorpusRawHTTP(t *testing.T) {
	p, _ := wafPlugin(t)
	var reached atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		reached.Add(1)
		fmt.Fprint(w, "upstream ok")
	}))
	defer upstream.Close()
	px, err := wasmhost.NewProxy(p, upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(px)
	defer front.Close()
	addr := front.Listener.Addr().String()

	q := url.QueryEscape(sqli)
	body := "user=" + q
	chunked := func(parts ...string) string {
		var b strings.Builder
		for _, p := range parts {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
		}
		return b.String()
	}
	tests := []struct {
		technique string
		raw       string
	}{
		{"chunked_transfer_encoding_split_attack",
			"POST /form HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n" +
				chunked(body[:9], body[9:14], body[14:]) + "0\r\n\r\n"},
		{"chunked_with_extensions_and_trailer",
			"POST /form HTTP/1.1\r\nHost: app.test\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sig\r\n\r\n" +
				fmt.Sprintf("%x;ext=1\r\n%s\r\n", len(body), body) + "0\r\nX-Sig: 1\r\n\r\n"},
		{"http_1_0_without_host", "GET /?q=" + q + " HTTP/1.0\r\n\r\n"},
		{"absolute_form_uri", "GET http://app.test/search?q=" + q + " HTTP/1.1\r\nHost: app.test\r\n\r\n"},
		{"absolute_form_uri_other_host", "GET http://other.test/search?q=" + q + " HTTP/1.1\r\nHost: app.test\r\n\r\n"},
		{"mixed_case_header_names", "POST /form HTTP/1.1\r\nhOsT: app.test\r\ncOnTeNt-TyPe: application/x-www-form-urlencoded\r\nContent-Length: " +
			fmt.Sprint(len(body)) + "\r\n\r\n" + body},
		{"duplicate_content_type_headers", "POST /form HTTP/1.1\r\nHost: app.test\r\nContent-Type: text/plain\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
			fmt.Sprint(len(body)) + "\r\n\r\n" + body},
		{"attack_after_huge_header", "GET / HTTP/1.1\r\nHost: app.test\r\nX-Pad: " + strings.Repeat("a", 50<<10) + "\r\nReferer: " + sqli + "\r\n\r\n"},
		{"header_block_over_size_limit", "GET / HTTP/1.1\r\nHost: app.test\r\nX-Pad: " + strings.Repeat("a", 100<<10) + "\r\n\r\n"},
		{"header_count_over_limit", "GET / HTTP/1.1\r\nHost: app.test\r\n" + strings.Repeat("X-A: b\r\n", 150) + "\r\n"},
		{"percent_encoded_path_traversal", "GET /static/%2e%2e/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: app.test\r\n\r\n"},
	}
	for _, tc := range tests {
		t.Run(tc.technique, func(t *testing.T) {
			before := reached.Load()
			status := rawRequest(t, addr, tc.raw)
			if status < 400 || status > 499 {
				t.Fatalf("technique %s got through: status %d", tc.technique, status)
			}
			if reached.Load() != before {
				t.Fatalf("technique %s reached the upstream", tc.technique)
			}
		})
	}
}

// rawRequest writes raw to a new connection and returns the response's status code.
func rawRequest(t *testing.T, addr, raw string) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
