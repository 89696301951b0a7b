package wasmhost_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/wasmhost"
)

func reqHeaders(action string, extra ...[2]string) wasmhost.Headers {
	h := wasmhost.Headers{
		{":method", "POST"}, {":path", "/p?q=1"}, {":authority", "example.com"}, {":scheme", "http"},
		{"x-request-id", "rid-1"}, {"x-remove-me", "1"}, {"x-abi-replaced", "original"},
	}
	if action != "" {
		h = append(h, [2]string{"x-test-action", action})
	}
	return append(h, extra...)
}

func newStream(t *testing.T, p *wasmhost.Plugin) *wasmhost.Stream {
	t.Helper()
	s, err := p.NewStream(context.Background(), wasmhost.StreamInfo{
		SourceAddress: "10.0.0.1:1234", DestinationAddress: "10.0.0.2:8080", Protocol: "HTTP/1.1",
	})
	if err != nil {
		t.Fatalf("NewStream: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustStep(t *testing.T, what string) func(wasmhost.Step, error) wasmhost.Step {
	t.Helper()
	return func(st wasmhost.Step, err error) wasmhost.Step {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}
}

func header(t *testing.T, h wasmhost.Headers, name string) string {
	t.Helper()
	v, ok := h.Get(name)
	if !ok {
		t.Fatalf("header %q missing in %q", name, h)
	}
	return v
}

func TestStream(t *testing.T) {
	p, rec := newTestPlugin(t)

	t.Run("request_headers_modified_and_properties_read", func(t *testing.T) {
		s := newStream(t, p)
		st := mustStep(t, "request headers")(s.RequestHeaders(reqHeaders(""), true))
		if !st.EndOfStream || st.Headers == nil {
			t.Fatalf("headers not released with end of stream: %+v", st)
		}
		if got := header(t, st.Headers, "x-abi-path"); got != "/p?q=1" {
			t.Errorf("x-abi-path = %q", got)
		}
		if got := header(t, st.Headers, "x-abi-replaced"); got != "replaced" {
			t.Errorf("x-abi-replaced = %q", got)
		}
		if _, ok := st.Headers.Get("x-remove-me"); ok {
			t.Errorf("x-remove-me not removed: %q", st.Headers)
		}
		st = mustStep(t, "response headers")(s.ResponseHeaders(wasmhost.Headers{{":status", "200"}}, true))
		props := header(t, st.Headers, "x-abi-props")
		for _, want := range []string{
			"source.address=10.0.0.1:1234;", "destination.address=10.0.0.2:8080;", "request.protocol=HTTP/1.1;",
			"request.id=rid-1;", "request.path=/p?q=1;", "request.host=example.com;", "plugin_name=meshwaf;",
			"plugin_root_id=;", "source.port=1234;", "destination.port=8080;",
		} {
			if !strings.Contains(props, want) {
				t.Errorf("x-abi-props lacks %q: %s", want, props)
			}
		}
		if strings.Contains(props, "unknown=found") || !strings.Contains(props, "unknown=") {
			t.Errorf("unknown property not reported NotFound: %s", props)
		}
		if got := header(t, st.Headers, "x-abi-upstream-status"); got != "200" {
			t.Errorf("x-abi-upstream-status = %q", got)
		}
	})

	t.Run("request_body_buffered_then_replaced", func(t *testing.T) {
		s := newStream(t, p)
		st := mustStep(t, "headers")(s.RequestHeaders(reqHeaders("buffer-request-body"), false))
		if st.Headers == nil || st.EndOfStream {
			t.Fatalf("headers should pass, body pending: %+v", st)
		}
		st = mustStep(t, "chunk 1")(s.RequestBody([]byte("hello "), false))
		if st.Body != nil || st.EndOfStream {
			t.Fatalf("first chunk should be buffered: %+v", st)
		}
		st = mustStep(t, "chunk 2")(s.RequestBody([]byte("world"), true))
		if string(st.Body) != "HELLO WORLD" || !st.EndOfStream {
			t.Fatalf("buffered body = %q eos=%t, want HELLO WORLD", st.Body, st.EndOfStream)
		}
	})

	t.Run("response_body_buffered_then_replaced", func(t *testing.T) {
		s := newStream(t, p)
		mustStep(t, "headers")(s.RequestHeaders(reqHeaders("buffer-response-body"), true))
		st := mustStep(t, "response headers")(s.ResponseHeaders(wasmhost.Headers{{":status", "200"}}, false))
		if st.Headers != nil {
			t.Fatalf("response headers should be held: %+v", st)
		}
		mustStep(t, "chunk 1")(s.ResponseBody([]byte("abc"), false))
		st = mustStep(t, "chunk 2")(s.ResponseBody([]byte("def"), true))
		if st.Headers == nil || string(st.Body) != "ABCDEF" || !st.EndOfStream {
			t.Fatalf("want held headers + ABCDEF released together, got %+v", st)
		}
	})

	t.Run("paused_headers_continue_from_body", func(t *testing.T) {
		s := newStream(t, p)
		st := mustStep(t, "headers")(s.RequestHeaders(reqHeaders("pause-headers"), false))
		if st.Headers != nil || !s.Held(false) {
			t.Fatalf("headers should be held: %+v", st)
		}
		st = mustStep(t, "body")(s.RequestBody([]byte("x"), true))
		if st.Headers == nil || string(st.Body) != "x" || !st.EndOfStream {
			t.Fatalf("continue should release headers and body: %+v", st)
		}
	})

	t.Run("local_reply_from_request_headers", func(t *testing.T) {
		s := newStream(t, p)
		st := mustStep(t, "headers")(s.RequestHeaders(reqHeaders("local-reply"), true))
		if st.Reply == nil || st.Headers != nil {
			t.Fatalf("want a local reply and nothing upstream: %+v", st)
		}
		if st.Reply.Status != 418 || string(st.Reply.Body) != "teapot\n" || header(t, st.Reply.Headers, "x-abi-local") != "yes" {
			t.Fatalf("reply = %+v", st.Reply)
		}
		// No callbacks other than done/log/delete after a local reply.
		st = mustStep(t, "response headers")(s.ResponseHeaders(wasmhost.Headers{{":status", "200"}}, true))
		if st.Headers != nil {
			t.Fatalf("response after local reply went through: %+v", st)
		}
	})

	t.Run("local_reply_replaces_held_response_headers", func(t *testing.T) {
		s := newStream(t, p)
		mustStep(t, "headers")(s.RequestHeaders(reqHeaders("response-header-reply"), true))
		st := mustStep(t, "response headers")(s.ResponseHeaders(wasmhost.Headers{{":status", "200"}}, false))
		if st.Reply == nil || st.Reply.Status != 403 || st.Reset {
			t.Fatalf("want 403 reply, got %+v", st)
		}
		if got := header(t, st.Reply.Headers, "content-type"); got != "text/plain" {
			t.Errorf("reply content-type = %q, want Envoy's text/plain", got)
		}
	})

	t.Run("local_reply_from_response_body_before_headers_sent", func(t *testing.T) {
		s := newStream(t, p)
		mustStep(t, "headers")(s.RequestHeaders(reqHeaders("response-body-reply"), true))
		mustStep(t, "response headers")(s.ResponseHeaders(wasmhost.Headers{{":status", "200"}}, false))
		mustStep(t, "chunk 1")(s.ResponseBody([]byte("secret"), false))
		st := mustStep(t, "chunk 2")(s.ResponseBody([]byte("more"), true))
		if st.Reply == nil || st.Reply.Status != 403 || st.Reset || st.Body != nil {
			t.Fatalf("want 403 replacing the response, got %+v", st)
		}
	})

	t.Run("request_trailers", func(t *testing.T) {
		s := newStream(t, p)
		mustStep(t, "headers")(s.RequestHeaders(reqHeaders(""), false))
		mustStep(t, "body")(s.RequestBody([]byte("b"), false))
		st := mustStep(t, "trailers")(s.RequestTrailers(wasmhost.Headers{{"x-t", "1"}}))
		if !st.EndOfStream || header(t, st.Trailers, "x-abi-trailer-seen") != "1" {
			t.Fatalf("trailers = %+v", st)
		}
	})

	t.Run("guest_panic_fails_closed", func(t *testing.T) {
		s := newStream(t, p)
		st := mustStep(t, "headers")(s.RequestHeaders(reqHeaders("panic"), true))
		// The guest ABI recovers the panic and answers 500 itself: no trap.
		if st.Reply == nil || st.Reply.Status != 500 {
			t.Fatalf("want the guest's 500, got %+v", st)
		}
		// It logs the panic at critical level, naming the callback, the stream's context, the
		// panic value and where it came from.
		want := fmt.Sprintf("[critical] panic in OnRequestHeaders of context %d: testplugin: panic requested", s.ID())
		line, ok := rec.Find(want)
		if !ok {
			t.Fatalf("no log line %q in %q", want, rec.Lines())
		}
		if !strings.Contains(line, "goroutine ") || !strings.Contains(line, "main.(*httpContext).OnRequestHeaders") {
			t.Errorf("panic log line carries no stack naming the callback:\n%s", line)
		}
		if _, ok := rec.Find("VM failed"); ok {
			t.Errorf("a recovered panic discarded the VM: %q", rec.Lines())
		}
	})

	t.Run("misuse_is_an_error", func(t *testing.T) {
		s := newStream(t, p)
		if _, err := s.RequestBody([]byte("x"), true); err == nil {
			t.Fatal("body before headers accepted")
		}
	})
}

func TestStreamTrapRebuildsVM(t *testing.T) {
	for _, action := range []string{"exit", "stack-overflow"} {
		t.Run(action, func(t *testing.T) {
			p, rec := newTestPlugin(t)
			s := newStream(t, p)
			_, err := s.RequestHeaders(reqHeaders(action), true)
			if !errors.Is(err, wasmhost.ErrPluginFailed) {
				t.Fatalf("want ErrPluginFailed, got %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("Close after trap: %v", err)
			}
			// The next stream gets a rebuilt VM.
			s2 := newStream(t, p)
			st := mustStep(t, "after rebuild")(s2.RequestHeaders(reqHeaders(""), true))
			if st.Headers == nil {
				t.Fatalf("next request not served: %+v", st)
			}
			if !strings.Contains(strings.Join(rec.Lines(), "\n"), "VM failed") {
				t.Errorf("failure not logged: %q", rec.Lines())
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	p, _ := newTestPlugin(t, wasmhost.WithVMs(2))
	for range 3 {
		s := newStream(t, p)
		mustStep(t, "headers")(s.RequestHeaders(reqHeaders("buffer-request-body"), false))
		mustStep(t, "body")(s.RequestBody([]byte("12345"), true))
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	m := p.Metrics()
	want := map[string]int64{"abitest.requests_total": 3, "abitest.streams_done": 3, "abitest.request_body_bytes": 15}
	got := m.Map()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
		}
	}
	if h, _ := m.Get("abitest.request_body_bytes"); h.Type != wasmhost.Histogram || h.Count != 3 {
		t.Errorf("histogram = %+v", h)
	}
	var b strings.Builder
	if _, err := m.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "abitest_requests_total 3\n") {
		t.Errorf("prometheus text:\n%s", b.String())
	}
}

func TestConfigureFailure(t *testing.T) {
	_, err := testModule(t).NewPlugin(context.Background(), wasmhost.WithPluginConfig([]byte("fail")))
	if err == nil || !strings.Contains(err.Error(), `plugin configuration "fail" refused`) {
		t.Fatalf("want configure error with the plugin's log line, got %v", err)
	}
}

func TestStartLogsConfiguration(t *testing.T) {
	_, rec := newTestPlugin(t, wasmhost.WithVMConfig([]byte("vmcfg")), wasmhost.WithPluginConfig([]byte("plugincfg")))
	log := strings.Join(rec.Lines(), "\n")
	for _, want := range []string{`vm started with configuration "vmcfg"`, `plugin started with configuration "plugincfg"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

func TestBufferLimit(t *testing.T) {
	p, _ := newTestPlugin(t, wasmhost.WithBufferLimit(8))
	t.Run("request_413", func(t *testing.T) {
		s := newStream(t, p)
		mustStep(t, "headers")(s.RequestHeaders(reqHeaders("buffer-request-body"), false))
		mustStep(t, "chunk 1")(s.RequestBody([]byte("12345"), false))
		st := mustStep(t, "chunk 2")(s.RequestBody([]byte("67890"), false))
		if st.Reply == nil || st.Reply.Status != 413 {
			t.Fatalf("want Envoy's 413 past the buffer limit, got %+v", st)
		}
	})
	t.Run("response_500", func(t *testing.T) {
		s := newStream(t, p)
		mustStep(t, "headers")(s.RequestHeaders(reqHeaders("buffer-response-body"), true))
		mustStep(t, "response headers")(s.ResponseHeaders(wasmhost.Headers{{":status", "200"}}, false))
		st := mustStep(t, "chunk")(s.ResponseBody([]byte("0123456789"), false))
		if st.Reply == nil || st.Reply.Status != 500 {
			t.Fatalf("want Envoy's 500 past the buffer limit, got %+v", st)
		}
	})
}

func TestWriterLoggerOneLinePerMessage(t *testing.T) {
	var b strings.Builder
	wasmhost.WriterLogger(&b)(wasmhost.LogWarn, "two\nlines")
	if got := b.String(); got != "[warn] two\\nlines\n" {
		t.Fatalf("got %q", got)
	}
}
