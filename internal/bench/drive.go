package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/meshwaf/meshwaf/internal/engine"
	"github.com/meshwaf/meshwaf/rules"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// chunkSize is the body slice handed over per call, the runner's (wasmhost.Proxy) default.
const chunkSize = 16 << 10

// requestID is sent as x-request-id, which Envoy adds and the plugin uses as transaction id;
// native Coraza gets the same id.
const requestID = "3f2a8c1e-5b7d-4e9a-9c0b-1d2e3f4a5b6c"

var streamInfo = wasmhost.StreamInfo{SourceAddress: "10.0.0.7:51234", DestinationAddress: "10.0.0.1:8080", Protocol: "HTTP/1.1"}

func (c *Case) requestHeaders() wasmhost.Headers {
	h := wasmhost.Headers{{":method", c.Method}, {":path", c.Path}, {":authority", authority}, {":scheme", "http"}}
	for _, kv := range c.Headers {
		h = append(h, kv)
	}
	if c.Body != nil {
		h = append(h, [2]string{"content-length", strconv.Itoa(len(c.Body))})
	}
	return append(h, [2]string{"x-request-id", requestID})
}

func (c *Case) responseHeaders() [][2]string {
	h := [][2]string{{":status", "200"}}
	if c.RespType != "" {
		h = append(h, [2]string{"content-type", c.RespType})
	}
	return append(h, [2]string{"content-length", strconv.Itoa(len(c.RespBody))})
}

func chunks(body []byte, each func(chunk []byte, last bool) (stop bool, err error)) error {
	for off := 0; off < len(body); off += chunkSize {
		end := min(off+chunkSize, len(body))
		stop, err := each(body[off:end], end == len(body))
		if stop || err != nil {
			return err
		}
	}
	return nil
}

// Wasm sends one exchange through the plugin as Envoy would: request headers, body chunks,
// then (unless blocked) response headers and body, and the end of the stream. It reports
// whether the plugin answered with a local reply.
func Wasm(ctx context.Context, p *wasmhost.Plugin, c *Case) (blocked bool, err error) {
	s, err := p.NewStream(ctx, streamInfo)
	if err != nil {
		return false, err
	}
	defer func() { err = errors.Join(err, s.Close()) }()
	step, err := s.RequestHeaders(c.requestHeaders(), c.Body == nil)
	if err != nil || step.Reply != nil {
		return step.Reply != nil, err
	}
	err = chunks(c.Body, func(chunk []byte, last bool) (bool, error) {
		step, err = s.RequestBody(chunk, last)
		return step.Reply != nil, err
	})
	if err != nil || step.Reply != nil {
		return step.Reply != nil, err
	}
	step, err = s.ResponseHeaders(c.responseHeaders(), len(c.RespBody) == 0)
	if err != nil || step.Reply != nil {
		return step.Reply != nil, err
	}
	err = chunks(c.RespBody, func(chunk []byte, last bool) (bool, error) {
		step, err = s.ResponseBody(chunk, last)
		return step.Reply != nil, err
	})
	return step.Reply != nil, err
}

// NewNativeWAF compiles directives with native Coraza as the plugin does: the same embedded
// rules, the same error callback work (each match formatted as its error-log line), the
// in-memory body limit raised to the body limit (wasmplugin.scanRequestBodyLimits; the
// recommended 12.5 MiB).
// It is stock Coraza: it fails once NewNativeEngineWAF has replaced operators and actions in
// this process.
func NewNativeWAF(directives []string) (coraza.WAF, error) {
	if engine.Registered() {
		return nil, errors.New("bench: stock Coraza cannot be compiled any more: meshwaf's operators and actions are registered in this process (compile it before NewNativeEngineWAF)")
	}
	return newNative(directives)
}

// NewNativeEngineWAF compiles directives as NewNativeWAF does, with the plugin's engine:
// Coraza with meshwaf's operators and actions (internal/engine), natively. Against stock
// Coraza it measures how much work the plugin's engine does; against the plugin in Wasm, what
// Wasm costs on top of the same code. It registers them for the rest of the process.
func NewNativeEngineWAF(directives []string) (coraza.WAF, error) {
	engine.Register()
	return newNative(directives)
}

func newNative(directives []string) (coraza.WAF, error) {
	cfg := coraza.NewWAFConfig().WithRootFS(rules.FS()).
		WithErrorCallback(func(mr types.MatchedRule) { _ = mr.ErrorLog() }).
		WithRequestBodyInMemoryLimit(13107200)
	for _, d := range directives {
		cfg = cfg.WithDirectives(d)
	}
	return coraza.NewWAF(cfg)
}

// Native is Wasm's exchange with native Coraza, step for step what wasmplugin's stream does.
func Native(waf coraza.WAF, c *Case) (blocked bool, err error) {
	tx := waf.NewTransactionWithID(requestID)
	defer func() {
		tx.ProcessLogging()
		for _, mr := range tx.MatchedRules() {
			_ = mr.Rule().Tags() // the plugin's per-category counting
		}
		err = errors.Join(err, tx.Close())
	}()
	tx.ProcessConnection("10.0.0.7", 51234, "10.0.0.1", 8080)
	tx.ProcessURI(c.Path, c.Method, "HTTP/1.1")
	for _, kv := range c.requestHeaders() {
		if kv[0][0] != ':' {
			tx.AddRequestHeader(kv[0], kv[1])
		}
	}
	tx.AddRequestHeader("Host", authority)
	tx.SetServerName(authority)
	if it := tx.ProcessRequestHeaders(); it != nil {
		return true, nil
	}
	var it *types.Interruption
	err = chunks(c.Body, func(chunk []byte, _ bool) (bool, error) {
		var werr error
		it, _, werr = tx.WriteRequestBody(chunk)
		return it != nil, werr
	})
	if err != nil || it != nil {
		return it != nil, err
	}
	if it, err = tx.ProcessRequestBody(); err != nil || it != nil {
		return it != nil, err
	}
	status := 0
	for _, kv := range c.responseHeaders() {
		if kv[0] == ":status" {
			status, _ = strconv.Atoi(kv[1])
			continue
		}
		tx.AddResponseHeader(kv[0], kv[1])
	}
	if it := tx.ProcessResponseHeaders(status, "HTTP/1.1"); it != nil {
		return true, nil
	}
	if len(c.RespBody) == 0 || !tx.IsResponseBodyAccessible() || !tx.IsResponseBodyProcessable() {
		it, err = tx.ProcessResponseBody()
		return it != nil, err
	}
	err = chunks(c.RespBody, func(chunk []byte, _ bool) (bool, error) {
		var werr error
		it, _, werr = tx.WriteResponseBody(chunk)
		return it != nil, werr
	})
	if err != nil || it != nil {
		return it != nil, err
	}
	it, err = tx.ProcessResponseBody()
	return it != nil, err
}

// check runs c once through the plugin and each native WAF and fails unless all block
// exactly when c.Blocked says.
func check(ctx context.Context, p *wasmhost.Plugin, stock, engine coraza.WAF, c *Case) error {
	wb, err := Wasm(ctx, p, c)
	if err != nil {
		return fmt.Errorf("%s (wasm): %w", c.Name, err)
	}
	nb, err := Native(stock, c)
	if err != nil {
		return fmt.Errorf("%s (native): %w", c.Name, err)
	}
	eb, err := Native(engine, c)
	if err != nil {
		return fmt.Errorf("%s (the plugin's engine, natively): %w", c.Name, err)
	}
	if wb != c.Blocked || nb != c.Blocked || eb != c.Blocked {
		return fmt.Errorf("%s: blocked wasm=%v native=%v the plugin's engine natively=%v, want %v", c.Name, wb, nb, eb, c.Blocked)
	}
	return nil
}
