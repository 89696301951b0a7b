package client

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func TestRequestBytes(t *testing.T) {
	cases := []struct {
		name string
		req  Request
		want string
	}{
		{
			name: "get_autocomplete_sorted",
			req: Request{Method: "GET", URI: "/get", Version: "HTTP/1.1", SortHeaders: true, Autocomplete: true,
				Headers: MapHeaders(map[string]string{"User-Agent": "OWASP CRS test agent", "Host": "localhost", "Accept": "*/*"})},
			want: "GET /get HTTP/1.1\r\nAccept: */*\r\nConnection: close\r\nHost: localhost\r\nUser-Agent: OWASP CRS test agent\r\n\r\n",
		},
		{
			name: "malformed_request_line_verbatim",
			req:  Request{Method: "\tGET", URI: "/", Version: "HTTP\\1.0", Headers: []Header{{"Host", "localhost"}}},
			want: "\tGET / HTTP\\1.0\r\nHost: localhost\r\n\r\n",
		},
		{
			name: "empty_version_http09",
			req:  Request{Method: "GET", URI: "/", Version: ""},
			want: "GET / \r\n\r\n",
		},
		{
			name: "form_data_encoded_per_key_and_value",
			req: Request{Method: "POST", URI: "/", Version: "HTTP/1.1", SortHeaders: true, Autocomplete: true,
				Headers: MapHeaders(map[string]string{"Host": "localhost"}), Body: []byte("a=<script>&b c=1 2&flag")},
			want: "POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 27\r\nContent-Type: application/x-www-form-urlencoded\r\nHost: localhost\r\n\r\na=%3Cscript%3E&b+c=1+2&flag",
		},
		{
			name: "already_encoded_form_kept",
			req: Request{Method: "POST", URI: "/", Version: "HTTP/1.1", Autocomplete: true,
				Headers: []Header{{"Content-Type", "application/x-www-form-urlencoded"}}, Body: []byte("a=%27")},
			want: "POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nConnection: close\r\nContent-Length: 5\r\n\r\na=%27",
		},
		{
			name: "other_content_type_not_encoded",
			req: Request{Method: "PUT", URI: "/", Version: "HTTP/1.1", Autocomplete: true, SortHeaders: true,
				Headers: MapHeaders(map[string]string{"Content-Type": "application/json"}), Body: []byte(`{"a": "<b>"}`)},
			want: "PUT / HTTP/1.1\r\nConnection: close\r\nContent-Length: 12\r\nContent-Type: application/json\r\n\r\n{\"a\": \"<b>\"}",
		},
		{
			name: "post_without_body_gets_content_length_0",
			req:  Request{Method: "POST", URI: "/", Version: "HTTP/1.1", Autocomplete: true},
			want: "POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "unanchored_method_pattern_like_go_ftw",
			req:  Request{Method: "XPUTX", URI: "/", Version: "HTTP/1.1", Autocomplete: true},
			want: "XPUTX / HTTP/1.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
		},
		{
			name: "given_headers_win_empty_value_replaced",
			req: Request{Method: "GET", URI: "/", Version: "HTTP/1.1", Autocomplete: true, SortHeaders: true,
				Headers: MapHeaders(map[string]string{"Connection": "keep-alive", "Content-Type": ""}), Body: []byte("x")},
			want: "GET / HTTP/1.1\r\nConnection: keep-alive\r\nContent-Length: 1\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\nx",
		},
		{
			name: "multipart_lf_to_crlf_without_autocomplete",
			req: Request{Method: "POST", URI: "/", Version: "HTTP/1.1",
				Headers: []Header{{"Content-Type", "multipart/form-data; boundary=x"}}, Body: []byte("--x\nA: b\n\nv\n--x--\n")},
			want: "POST / HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=x\r\n\r\n--x\r\nA: b\r\n\r\nv\r\n--x--\r\n",
		},
		{
			name: "ordered_headers_keep_order_and_duplicates",
			req: Request{Method: "GET", URI: "/", Version: "HTTP/1.1", Autocomplete: true,
				Headers: []Header{{"Z", "1"}, {"A", "2"}, {"Z", "3"}}},
			want: "GET / HTTP/1.1\r\nZ: 1\r\nA: 2\r\nZ: 3\r\nConnection: close\r\n\r\n",
		},
		{
			name: "raw_request_untouched",
			req:  Request{Method: "IGNORED", Autocomplete: true, Raw: []byte("GET /\x00 HTTP/1.1\nHost: x\n\n")},
			want: "GET /\x00 HTTP/1.1\nHost: x\n\n",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := string(c.req.Bytes()); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}
}

// server accepts one connection, records what arrives until the client half-closes or the
// request head is complete, and answers with reply.
func server(t *testing.T, reply string, got chan<- []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		b, _ := io.ReadAll(conn) // read until the client stops sending (deadline)
		got <- b
		if reply != "" {
			conn.Write([]byte(reply))
		}
	}()
	return ln.Addr().String()
}

func TestDoBytesOnTheWire(t *testing.T) {
	req := Request{Method: "|GET", URI: "/?a=b", Version: "JUNK/1.0", Autocomplete: true, SortHeaders: true,
		Headers: MapHeaders(map[string]string{"Host": "localhost"})}
	got := make(chan []byte, 1)
	addr := server(t, "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nX-A: b\r\n\r\nbad", got)
	resp, err := Client{}.Do(context.Background(), addr, false, req.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := "|GET /?a=b JUNK/1.0\r\nConnection: close\r\nHost: localhost\r\n\r\n"
	if w := string(<-got); w != want {
		t.Errorf("on the wire %q, want %q", w, want)
	}
	if resp.StatusCode != 400 || string(resp.Body) != "bad" || resp.Header.Get("X-A") != "b" ||
		string(resp.Raw) != "HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nX-A: b\r\n\r\nbad" {
		t.Errorf("response %+v raw %q", resp, resp.Raw)
	}
}

func TestDoErrors(t *testing.T) {
	t.Run("connection_refused", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		if _, err := (Client{}).Do(context.Background(), addr, false, []byte("GET / HTTP/1.1\r\n\r\n")); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("closed_without_response", func(t *testing.T) {
		got := make(chan []byte, 1)
		addr := server(t, "", got)
		_, err := Client{}.Do(context.Background(), addr, false, []byte("GET / \r\n\r\n"))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("read_timeout", func(t *testing.T) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		go func() {
			c, err := ln.Accept()
			if err == nil {
				time.Sleep(time.Second)
				c.Close()
			}
		}()
		start := time.Now()
		_, err := Client{ReadTimeout: 100 * time.Millisecond}.Do(context.Background(), ln.Addr().String(), false, []byte("GET / HTTP/1.1\r\n\r\n"))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || time.Since(start) > 900*time.Millisecond {
			t.Fatalf("err = %v after %v", err, time.Since(start))
		}
	})
}

func TestReadResponse(t *testing.T) {
	cases := []struct {
		name, in, method string
		status           int
		body             string
		raw              string // defaults to in
		wantErr          bool
	}{
		{name: "content_length", in: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiEXTRA", status: 200, body: "hi", raw: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"},
		{name: "chunked", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\n", status: 200, body: "abcde"},
		{name: "until_close", in: "HTTP/1.0 403 Forbidden\r\n\r\nno way", status: 403, body: "no way"},
		{name: "head_has_no_body", method: "HEAD", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", status: 200},
		{name: "interim_100_skipped", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", status: 201},
		{name: "lf_only_and_junk_header", in: "HTTP/1.1 404 Not Found\nJunk\nContent-Length: 1\n\nx", status: 404, body: "x"},
		{name: "http09_body_only", in: "<html>hello</html>", wantErr: true},
		{name: "truncated_body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", status: 200, body: "", wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := ReadResponse(bufio.NewReader(strings.NewReader(c.in)), c.method)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v", err)
			}
			if resp == nil {
				return
			}
			raw := c.raw
			if raw == "" {
				raw = c.in
			}
			if resp.StatusCode != c.status || (!c.wantErr && (string(resp.Body) != c.body || string(resp.Raw) != raw)) {
				t.Errorf("status %d body %q raw %q", resp.StatusCode, resp.Body, resp.Raw)
			}
		})
	}
}
