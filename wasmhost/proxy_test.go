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
