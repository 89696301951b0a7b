package wasmhost_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// upstreamSeen is what the test upstream received.
type upstreamSeen struct {
	path, host string
	header     http.Header
	body       string
	trailer    http.Header
}

// newUpstream echoes "upstream body" and records every request.
func newUpstream(t *testing.T) (*httptest.Server, chan upstreamSeen) {
	t.Helper()
	seen := make(chan upstreamSeen, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen <- upstreamSeen{path: r.RequestURI, host: r.Host, header: r.Header.Clone(), body: string(body), trailer: r.Trailer.Clone()}
		w.Header().Set("X-Upstream", "yes")
		fmt.Fprint(w, "upstream body")
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

func newProxyServer(t *testing.T, upstream string, opts ...wasmhost.PluginOption) *httptest.Server {
	t.Helper()
	p, _ := newTestPlugin(t, opts...)
	px, err := wasmhost.NewProxy(p, upstream, wasmhost.WithChunkSize(4))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(px)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, method, url, action, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if action != "" {
		req.Header.Set("X-Test-Action", action)
	}
	req.Header.Set("X-Remove-Me", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	return resp, string(b)
}

func TestProxy(t *testing.T) {
	up, seen := newUpstream(t)
	srv := newProxyServer(t, up.URL)

	t.Run("request_modified_upstream_response_modified", func(t *testing.T) {
		resp, body := do(t, "GET", srv.URL+"/a/b?x=%20y", "", "")
		if resp.StatusCode != 200 || body != "upstream body" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		got := <-seen
		if got.path != "/a/b?x=%20y" {
			t.Errorf("upstream path = %q", got.path)
		}
		if got.header.Get("X-Abi-Path") != "/a/b?x=%20y" || got.header.Get("X-Abi-Replaced") != "replaced" || got.header.Get("X-Remove-Me") != "" {
			t.Errorf("upstream headers not as the plugin left them: %v", got.header)
		}
		if got.header.Get("X-Request-Id") == "" {
			t.Errorf("no x-request-id generated: %v", got.header)
		}
		if resp.Header.Get("X-Upstream") != "yes" || resp.Header.Get("X-Abi-Upstream-Status") != "200" {
			t.Errorf("response headers: %v", resp.Header)
		}
		if props := resp.Header.Get("X-Abi-Props"); !strings.Contains(props, "source.address=127.0.0.1:") ||
			!strings.Contains(props, "request.id="+got.header.Get("X-Request-Id")+";") {
			t.Errorf("properties: %s", props)
		}
	})

	t.Run("request_body_streamed_in_chunks", func(t *testing.T) {
		resp, _ := do(t, "POST", srv.URL+"/", "", "0123456789")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := <-seen; got.body != "0123456789" {
			t.Errorf("upstream body = %q", got.body)
		}
	})

	t.Run("request_body_buffered_and_replaced", func(t *testing.T) {
		resp, _ := do(t, "POST", srv.URL+"/", "buffer-request-body", "hello world")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := <-seen; got.body != "HELLO WORLD" {
			t.Errorf("upstream body = %q", got.body)
		}
	})

	t.Run("response_body_buffered_and_replaced", func(t *testing.T) {
		resp, body := do(t, "GET", srv.URL+"/", "buffer-response-body", "")
		<-seen
		if resp.StatusCode != 200 || body != "UPSTREAM BODY" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
	})

	t.Run("local_reply_never_reaches_upstream", func(t *testing.T) {
		resp, body := do(t, "POST", srv.URL+"/", "local-reply", "payload")
		if resp.StatusCode != 418 || body != "teapot\n" || resp.Header.Get("X-Abi-Local") != "yes" {
			t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
		}
		select {
		case got := <-seen:
			t.Fatalf("upstream reached: %+v", got)
		default:
		}
	})

	t.Run("response_body_reply_replaces_response", func(t *testing.T) {
		resp, body := do(t, "GET", srv.URL+"/", "response-body-reply", "")
		<-seen
		if resp.StatusCode != 403 || body != "blocked at response body\n" || resp.Header.Get("X-Upstream") != "" {
			t.Fatalf("got %d %q %v", resp.StatusCode, body, resp.Header)
		}
	})

	t.Run("request_trailers_forwarded", func(t *testing.T) {
		req, _ := http.NewRequest("POST", srv.URL+"/", io.MultiReader(strings.NewReader("abc"), strings.NewReader("def")))
		req.ContentLength = -1
		req.Trailer = http.Header{"X-T": {"1"}}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := <-seen
		if got.body != "abcdef" || got.trailer.Get("X-T") != "1" || got.trailer.Get("X-Abi-Trailer-Seen") != "1" {
			t.Errorf("upstream body %q trailers %v", got.body, got.trailer)
		}
	})

	t.Run("upstream_down_is_503_through_plugin", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		srv2 := newProxyServer(t, dead.URL)
		resp, _ := do(t, "GET", srv2.URL+"/", "", "")
		if resp.StatusCode != 503 || resp.Header.Get("X-Abi-Upstream-Status") != "503" {
			t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
		}
	})
}

// Envoy's Context::failStream answers 503 (wasm_fail_stream) when the VM traps.
func TestProxyTrapAnswers503AndRecovers(t *testing.T) {
	up, seen := newUpstream(t)
	srv := newProxyServer(t, up.URL)
	resp, _ := do(t, "GET", srv.URL+"/", "exit", "")
	if resp.StatusCode != 503 {
		t.Fatalf("trap: status %d, want 503", resp.StatusCode)
	}
	resp, body := do(t, "GET", srv.URL+"/", "", "")
	if resp.StatusCode != 200 || body != "upstream body" {
		t.Fatalf("after trap: %d %q", resp.StatusCode, body)
	}
	<-seen
}

func TestProxyConcurrent(t *testing.T) {
	up, seen := newUpstream(t)
	go func() {
		for range seen {
		}
	}()
	srv := newProxyServer(t, up.URL, wasmhost.WithVMs(3))
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			action := []string{"", "buffer-request-body", "buffer-response-body", "local-reply"}[i%4]
			req, _ := http.NewRequest("POST", srv.URL+"/", bytes.NewReader(bytes.Repeat([]byte("a"), 100+i)))
			req.Header.Set("X-Test-Action", action)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := map[string]int{"": 200, "buffer-request-body": 200, "buffer-response-body": 200, "local-reply": 418}[action]
			if resp.StatusCode != want {
				errs <- fmt.Errorf("action %q: status %d %q", action, resp.StatusCode, b)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		t.Fatal(err)
	}
}

// The upstream must see the client's headers, not ones the proxy's HTTP client adds: Go's
// default transport would add Accept-Encoding: gzip (and decompress behind the plugin's back).
func TestProxyAddsNoAcceptEncoding(t *testing.T) {
	up, seen := newUpstream(t)
	srv := newProxyServer(t, up.URL)
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET /plain HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got := <-seen
	if ae := got.header.Get("Accept-Encoding"); ae != "" {
		t.Fatalf("upstream saw Accept-Encoding %q that the client never sent", ae)
	}
}

// The proxy streams bodies through the plugin: a chunk the plugin releases goes on at once,
// as Envoy forwards data a filter continued. Each direction is checked with a peer that sends
// the rest of a body only after the other side received its start; a proxy that read a whole
// body before forwarding it would leave both waiting until the deadline.
func TestProxyStreamsBodies(t *testing.T) {
	t.Run("request_body_reaches_upstream_before_the_client_ends_it", func(t *testing.T) {
		firstChunk := make(chan string, 1)
		upstreamBody := make(chan string, 1)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			head := make([]byte, 4)
			if _, err := io.ReadFull(r.Body, head); err != nil {
				t.Errorf("upstream reading the first chunk: %v", err)
				return
			}
			firstChunk <- string(head)
			rest, _ := io.ReadAll(r.Body)
			upstreamBody <- string(head) + string(rest)
			fmt.Fprint(w, "done")
		}))
		t.Cleanup(up.Close)
		srv := newProxyServer(t, up.URL) // chunks of 4 bytes

		pr, pw := io.Pipe()
		defer pw.CloseWithError(errors.New("test over"))
		req, err := http.NewRequest("POST", srv.URL+"/", pr)
		if err != nil {
			t.Fatal(err)
		}
		result := make(chan error, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			result <- err
		}()
		// Three chunks: the proxy looks one byte ahead to mark the last chunk, so the first
		// two can go on while the client keeps the body open.
		if _, err := pw.Write([]byte("0123456789ab")); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-firstChunk:
			if got != "0123" {
				t.Fatalf("upstream's first bytes = %q", got)
			}
		case err := <-result:
			t.Fatalf("exchange ended before the body did: %v", err)
		case <-time.After(deadline):
			t.Fatalf("upstream got nothing in %v while the client held the rest of the body: the proxy buffers the request body", deadline)
		}
		if _, err := pw.Write([]byte("-rest")); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		if err := <-result; err != nil {
			t.Fatal(err)
		}
		if got := <-upstreamBody; got != "0123456789ab-rest" {
			t.Errorf("upstream body = %q", got)
		}
	})

	t.Run("response_body_reaches_client_before_the_upstream_ends_it", func(t *testing.T) {
		clientGotStart := make(chan struct{})
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, "0123456789ab")
			http.NewResponseController(w).Flush()
			select {
			case <-clientGotStart:
				fmt.Fprint(w, "-rest")
			case <-time.After(deadline + 5*time.Second):
				// The client gave up first; end the body so the server can close.
			}
		}))
		t.Cleanup(up.Close)
		srv := newProxyServer(t, up.URL)

		// The client's start of the response: its headers and first chunk.
		type start struct {
			resp *http.Response
			head string
			err  error
		}
		started := make(chan start, 1)
		go func() {
			resp, err := http.Get(srv.URL + "/")
			if err != nil {
				started <- start{err: err}
				return
			}
			b := make([]byte, 4)
			n, err := io.ReadFull(resp.Body, b)
			started <- start{resp, string(b[:n]), err}
		}()
		var resp *http.Response
		select {
		case st := <-started:
			if st.err != nil {
				t.Fatal(st.err)
			}
			resp = st.resp
			defer resp.Body.Close()
			if resp.StatusCode != 200 || st.head != "0123" {
				t.Fatalf("client got %d, first bytes %q", resp.StatusCode, st.head)
			}
		case <-time.After(deadline):
			t.Fatalf("client got nothing in %v while the upstream held the rest of the body: the proxy buffers the response", deadline)
		}
		close(clientGotStart)
		rest, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if string(rest) != "456789ab-rest" {
			t.Errorf("rest of the response body = %q", rest)
		}
	})
}
