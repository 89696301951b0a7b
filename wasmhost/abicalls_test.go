package wasmhost_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmbuild"
	"github.com/meshwaf/meshwaf/internal/wasmtest"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// Host calls the main stream tests do not reach: late replies, closing, properties set by the
// guest, gauges, response trailers, the effective context and log levels.
func TestHostCallsEnvoySemantics(t *testing.T) {
	p, _ := newTestPlugin(t)
	okStatus := wasmhost.Headers{{":status", "200"}, {"content-type", "text/plain"}}

	t.Run("late_reply_after_response_headers_resets_stream", func(t *testing.T) {
		s := newStream(t, p)
		mustStep(t, "request headers")(s.RequestHeaders(reqHeaders("late-reply"), true))
		st := mustStep(t, "response headers")(s.ResponseHeaders(okStatus, false))
		if st.Headers == nil {
			t.Fatalf("response headers not released: %+v", st)
		}
		st = mustStep(t, "response body")(s.ResponseBody([]byte("body"), true))
		if !st.Reset || st.Reply != nil {
			t.Fatalf("local reply after headers were sent: got %+v, want a reset (Envoy cannot replace sent headers)", st)
		}
	})

	t.Run("close_stream_resets", func(t *testing.T) {
		s := newStream(t, p)
		st, err := s.RequestHeaders(reqHeaders("close-stream"), true)
		if err != nil && !st.Reset {
			t.Fatalf("request headers: %v", err)
		}
		if !st.Reset {
			t.Fatalf("proxy_close_stream: got %+v, want reset", st)
		}
	})

	t.Run("property_set_by_guest_reads_back", func(t *testing.T) {
		s := newStream(t, p)
		mustStep(t, "request headers")(s.RequestHeaders(reqHeaders("set-property"), true))
		st := mustStep(t, "response headers")(s.ResponseHeaders(okStatus, true))
		if got := header(t, st.Headers, "x-abi-set-property"); got != "v" {
			t.Fatalf("property meshwaf.x = %q, want v", got)
		}
	})

	t.Run("gauge_increments_both_ways_and_record_sets", func(t *testing.T) {
		s := newStream(t, p)
		mustStep(t, "request headers")(s.RequestHeaders(reqHeaders("gauge"), true))
		st := mustStep(t, "response headers")(s.ResponseHeaders(okStatus, true))
		if got := header(t, st.Headers, "x-abi-gauge"); got != "3,10" {
			t.Fatalf("gauge after +5-2 and after record 10 = %q, want 3,10", got)
		}
	})

	t.Run("response_trailers_modified", func(t *testing.T) {
		s := newStream(t, p)
		mustStep(t, "request headers")(s.RequestHeaders(reqHeaders("response-trailers"), true))
		mustStep(t, "response headers")(s.ResponseHeaders(okStatus, false))
		mustStep(t, "response body")(s.ResponseBody([]byte("x"), false))
		st := mustStep(t, "response trailers")(s.ResponseTrailers(wasmhost.Headers{{"grpc-status", "0"}}))
		if got := header(t, st.Trailers, "x-abi-response-trailer-seen"); got != "1" {
			t.Fatalf("trailer count seen by guest = %q, want 1", got)
		}
	})

	t.Run("effective_context_switches_maps", func(t *testing.T) {
		s := newStream(t, p)
		mustStep(t, "request headers")(s.RequestHeaders(reqHeaders("effective-context"), true))
		st := mustStep(t, "response headers")(s.ResponseHeaders(okStatus, true))
		got := header(t, st.Headers, "x-abi-effective-context")
		// A root context has no request headers: Envoy answers NotFound for its maps.
		if !strings.HasPrefix(got, "root:proxy-wasm: not found") || !strings.HasSuffix(got, "stream:/p?q=1/<nil>") {
			t.Fatalf("effective context results = %q", got)
		}
	})
}

func TestLogLevelFiltersAndIsReported(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds and compiles a wasm test plugin (-short)")
	}
	path := wasmbuild.ForTestTags(t, "./internal/abitest/testplugin", slices.Concat(wasmbuild.Tags, []string{"abitest_loglevel"}))
	mod, err := wasmhost.CompileFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mod.Close(context.Background()) })
	rec := &wasmtest.LogRecorder{}
	p, err := mod.NewPlugin(context.Background(), wasmhost.WithLogger(rec.Log),
		wasmhost.WithPluginConfig([]byte("log-levels")), wasmhost.WithLogLevel(wasmhost.LogWarn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	var got []string
	for _, l := range rec.Lines() {
		if strings.Contains(l, "log line at") || strings.Contains(l, "host log level") {
			got = append(got, l)
		}
	}
	want := []string{"[warn] log line at warn", "[error] log line at error", "[critical] log line at critical", "[critical] host log level warn <nil>"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("log lines with host level warn:\n got %q\nwant %q", got, want)
	}
}
