package wasmhost

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Proxy is an http.Handler that passes real HTTP traffic through a Plugin to an upstream, as
// Envoy's HTTP connection manager with the plugin as its only filter would. Safe for
// concurrent requests; each request holds one VM for its whole exchange.
type Proxy struct {
	plugin    *Plugin
	upstream  *url.URL
	transport http.RoundTripper
	chunkSize int
	// maxHeaders and maxHeaderBytes are Envoy's max_headers_count and max_request_headers_kb.
	maxHeaders, maxHeaderBytes int
}

var _ http.Handler = (*Proxy)(nil)

// ProxyOption configures NewProxy.
type ProxyOption func(*Proxy)

// WithChunkSize is the size of the body chunks handed to the plugin (default 16 KiB, close
// to the slices Envoy's codec delivers).
func WithChunkSize(n int) ProxyOption { return func(p *Proxy) { p.chunkSize = n } }

// WithHeaderLimits bounds a request's header count and total size (names and values, in
// bytes); a request over either gets 431 before the plugin sees it. The defaults are Envoy's:
// max_headers_count 100, max_request_headers_kb 60. Zero or less leaves a limit off.
func WithHeaderLimits(count, bytes int) ProxyOption {
	return func(p *Proxy) { p.maxHeaders, p.maxHeaderBytes = count, bytes }
}

// WithTransport sets the client used to reach the upstream (default: a clone of
// http.DefaultTransport with compression off).
func WithTransport(rt http.RoundTripper) ProxyOption { return func(p *Proxy) { p.transport = rt } }

// NewProxy returns a handler forwarding to upstream (e.g. "http://127.0.0.1:8080").
func NewProxy(plugin *Plugin, upstream string, opts ...ProxyOption) (*Proxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: upstream %q: %w", upstream, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("wasmhost: upstream %q: want http(s)://host[:port]", upstream)
	}
	p := &Proxy{plugin: plugin, upstream: u, transport: upstreamTransport(), chunkSize: 16 << 10,
		maxHeaders: 100, maxHeaderBytes: 60 << 10}
	for _, o := range opts {
		o(p)
	}
	if p.chunkSize <= 0 {
		return nil, fmt.Errorf("wasmhost: WithChunkSize(%d): must be positive", p.chunkSize)
	}
	return p, nil
}

// ServeHTTP runs one request through the plugin.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if n, size := headerCountAndSize(r.Header); p.maxHeaders > 0 && n > p.maxHeaders || p.maxHeaderBytes > 0 && size > p.maxHeaderBytes {
		// Envoy's HTTP/1 codec refuses such a request with 431 before any filter runs
		// (http1.headers_too_large / too_many_headers); the client gets no upstream answer.
		p.logf(LogInfo, "wasmhost: %s %s: %d headers, %d bytes: over the limits (%d headers, %d bytes)",
			r.Method, r.RequestURI, n, size, p.maxHeaders, p.maxHeaderBytes)
		http.Error(w, "Request Header Fields Too Large", http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	// Envoy's connection manager adds x-request-id (a UUID) when the client sent none,
	// before any filter runs; request.id reads it.
	if r.Header.Get("X-Request-Id") == "" {
		r.Header.Set("X-Request-Id", newUUID())
	}
	info := StreamInfo{SourceAddress: r.RemoteAddr, Protocol: protocolName(r)}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		info.DestinationAddress = a.String()
	}
	s, err := p.plugin.NewStream(r.Context(), info)
	if err != nil {
		p.logf(LogError, "wasmhost: no stream for %s %s: %v", r.Method, r.RequestURI, err)
		// Envoy fails a stream it cannot give a working VM with 503 (wasm_fail_stream).
		http.Error(w, "WAF plugin unavailable", http.StatusServiceUnavailable)
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	ex := &exchange{proxy: p, w: w, r: r, s: s, ctx: ctx}
	defer func() {
		cancel()
		if err := s.Close(); err != nil {
			p.logf(LogError, "wasmhost: closing stream %d: %v", s.ID(), err)
		}
		if ex.abort {
			// Envoy resets the stream; net/http's way to drop the connection mid-response.
			panic(http.ErrAbortHandler)
		}
	}()
	ex.run()
}

func (p *Proxy) logf(level LogLevel, format string, args ...any) {
	p.plugin.cfg.logger(level, fmt.Sprintf(format, args...))
}

// exchange is one request/response through the plugin.
type exchange struct {
	proxy *Proxy
	w     http.ResponseWriter
	r     *http.Request
	s     *Stream
	ctx   context.Context

	upBody    *io.PipeWriter // request body towards the upstream, once headers were released
	upTrailer http.Header
	upResult  chan upstreamResult
	sent      bool // response headers were written downstream
	finished  bool // a reply, reset or failure ended the exchange
	abort     bool // reset the client connection once the stream is closed
}

type upstreamResult struct {
	resp *http.Response
	err  error
}

func (ex *exchange) run() {
	r := ex.r
	hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
	st, err := ex.s.RequestHeaders(requestHeaders(r), !hasBody)
	if ex.requestStep(st, err) {
		return
	}
	if hasBody {
		done := ex.readBody(r.Body, func() http.Header { return r.Trailer }, ex.s.RequestBody, ex.s.RequestTrailers, ex.requestStep)
		if done {
			return
		}
	}
	if ex.s.Held(false) {
		// Envoy would wait for proxy_continue_stream until the stream timeout; nothing can
		// resume the request here any more.
		ex.fail(errors.New("plugin still holds the request after its end"))
		return
	}
	if ex.upResult == nil {
		ex.fail(errors.New("request ended without reaching the upstream"))
		return
	}
	res := <-ex.upResult
	ex.response(res)
}

// readBody feeds a body to the plugin in chunks, marking the last one end of stream unless
// trailers follow. It reports whether the exchange ended.
func (ex *exchange) readBody(body io.Reader, trailer func() http.Header,
	onBody func([]byte, bool) (Step, error), onTrailers func(Headers) (Step, error),
	handle func(Step, error) bool) bool {
	br := bufio.NewReaderSize(body, ex.proxy.chunkSize)
	buf := make([]byte, ex.proxy.chunkSize)
	for {
		n, err := io.ReadFull(br, buf)
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			ex.fail(fmt.Errorf("read body: %w", err))
			return true
		}
		if !eof {
			// Look ahead so the last chunk carries end_of_stream, as Envoy's codec does for a
			// body whose end it knows.
			if _, err := br.Peek(1); errors.Is(err, io.EOF) {
				eof = true
			} else if err != nil {
				ex.fail(fmt.Errorf("read body: %w", err))
				return true
			}
		}
		var tr Headers
		if eof {
			tr = trailerHeaders(trailer())
		}
		if n > 0 || eof {
			if handle(onBody(buf[:n], eof && tr == nil)) {
				return true
			}
		}
		if eof {
			if tr != nil {
				return handle(onTrailers(tr))
			}
			return false
		}
	}
}

// requestStep forwards what the plugin released upstream; true means the exchange ended.
func (ex *exchange) requestStep(st Step, err error) bool {
	if ex.terminal(st, err) {
		return true
	}
	if st.Headers != nil {
		ex.startUpstream(st)
		if ex.finished {
			return true
		}
	}
	if ex.upBody == nil {
		return false // no body stream: the upstream request carries the whole body
	}
	if len(st.Body) > 0 {
		// A write error means the upstream stopped reading; its result tells why.
		_, _ = ex.upBody.Write(st.Body)
	}
	if st.EndOfStream {
		for _, kv := range st.Trailers {
			ex.upTrailer.Add(kv[0], kv[1])
		}
		_ = ex.upBody.Close()
	}
	return false
}

// terminal handles failures, resets and local replies, the ways a stream ends early.
func (ex *exchange) terminal(st Step, err error) bool {
	switch {
	case err != nil:
		ex.fail(err)
	case st.Reset:
		ex.reset()
	case st.Reply != nil:
		ex.reply(st.Reply)
	default:
		return false
	}
	return true
}

func (ex *exchange) startUpstream(st Step) {
	req, err := ex.upstreamRequest(st)
	if err != nil {
		ex.fail(err)
		return
	}
	ex.upResult = make(chan upstreamResult, 1)
	go func() {
		resp, err := ex.proxy.transport.RoundTrip(req)
		ex.upResult <- upstreamResult{resp, err}
	}()
}

// upstreamRequest builds the request the plugin let through: its headers as modified, the
// body whole when the plugin released it whole, else streamed as it is released.
func (ex *exchange) upstreamRequest(st Step) (*http.Request, error) {
	h := st.Headers
	method, _ := h.Get(":method")
	path, _ := h.Get(":path")
	authority, _ := h.Get(":authority")
	u := *ex.proxy.upstream
	// Opaque keeps the path bytes exactly as the client (and the plugin) left them.
	query, hasQuery := "", false
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query, hasQuery = path[:i], path[i+1:], true
	}
	u.Opaque = strings.TrimSuffix(u.Path, "/") + path
	if !strings.HasPrefix(u.Opaque, "/") {
		u.Opaque = "/" + u.Opaque
	}
	u.Path, u.RawPath, u.RawQuery, u.ForceQuery = "", "", query, hasQuery
	req, err := http.NewRequestWithContext(ex.ctx, method, "http://placeholder/", nil)
	if err != nil {
		return nil, fmt.Errorf("upstream request: %w", err)
	}
	req.URL = &u
	req.Host = authority
	req.Header = http.Header{}
	for _, kv := range h {
		if strings.HasPrefix(kv[0], ":") || hopByHop[kv[0]] || kv[0] == "content-length" {
			continue
		}
		req.Header.Add(kv[0], kv[1])
	}
	if st.EndOfStream && len(st.Trailers) == 0 {
		req.ContentLength = int64(len(st.Body))
		if len(st.Body) > 0 {
			req.Body = io.NopCloser(bytes.NewReader(st.Body))
		}
		return req, nil
	}
	// The rest of the body comes as the plugin releases it: stream it (chunked), with the
	// trailers the client announced declared up front.
	pr, pw := io.Pipe()
	req.Body = pr
	req.ContentLength = -1
	req.Trailer = http.Header{}
	for k := range ex.r.Trailer {
		req.Trailer[k] = nil
	}
	ex.upBody, ex.upTrailer = pw, req.Trailer
	return req, nil
}

// response passes the upstream response through the plugin to the client.
func (ex *exchange) response(res upstreamResult) {
	if res.err != nil {
		// Envoy's router answers 503 itself; that reply still passes the filter chain.
		ex.proxy.logf(LogWarn, "wasmhost: upstream %s: %v", ex.proxy.upstream.Host, res.err)
		body := "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
		res.resp = &http.Response{
			StatusCode: http.StatusServiceUnavailable,
			Header:     http.Header{"Content-Type": {"text/plain"}, "Content-Length": {strconv.Itoa(len(body))}},
			Body:       io.NopCloser(strings.NewReader(body)),
		}
	}
	resp := res.resp
	defer resp.Body.Close()
	hasBody := resp.Body != http.NoBody && resp.ContentLength != 0 && ex.r.Method != http.MethodHead &&
		resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusNotModified
	st, err := ex.s.ResponseHeaders(responseHeaders(resp), !hasBody)
	if ex.responseStep(st, err) {
		return
	}
	if hasBody {
		if ex.readBody(resp.Body, func() http.Header { return resp.Trailer }, ex.s.ResponseBody, ex.s.ResponseTrailers, ex.responseStep) {
			return
		}
	}
	if ex.s.Held(true) {
		ex.fail(errors.New("plugin still holds the response after its end"))
	}
}

// responseStep writes what the plugin released to the client; true means the exchange ended.
func (ex *exchange) responseStep(st Step, err error) bool {
	if ex.terminal(st, err) {
		return true
	}
	w := ex.w
	if st.Headers != nil {
		status := http.StatusOK
		for _, kv := range st.Headers {
			if kv[0] == ":status" {
				if n, err := strconv.Atoi(kv[1]); err == nil {
					status = n
				}
				continue
			}
			if strings.HasPrefix(kv[0], ":") || hopByHop[kv[0]] {
				continue
			}
			w.Header().Add(kv[0], kv[1])
		}
		if st.EndOfStream {
			// The whole body is known: make Content-Length match what the plugin left.
			w.Header().Set("Content-Length", strconv.Itoa(len(st.Body)))
		}
		w.WriteHeader(status)
		ex.sent = true
	}
	if len(st.Body) > 0 {
		_, _ = w.Write(st.Body)
	}
	if st.EndOfStream {
		for _, kv := range st.Trailers {
			w.Header().Add(http.TrailerPrefix+kv[0], kv[1])
		}
	} else if len(st.Body) > 0 || st.Headers != nil {
		// Stream what was released; flushing earlier would send headers the plugin holds.
		_ = http.NewResponseController(w).Flush()
	}
	return false
}

// reply writes a local reply; the upstream exchange, if any, is abandoned.
func (ex *exchange) reply(r *LocalReply) {
	ex.finished = true
	ex.closeUpstream()
	if ex.sent {
		ex.abort = true
		return
	}
	h := ex.w.Header()
	clear(h)
	for _, kv := range r.Headers {
		if !strings.HasPrefix(kv[0], ":") && !hopByHop[kv[0]] {
			h.Add(kv[0], kv[1])
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(r.Body)))
	ex.w.WriteHeader(r.Status)
	_, _ = ex.w.Write(r.Body)
	ex.sent = true
}

// fail ends the exchange after a plugin failure (a trap: the VM is gone): like Envoy's
// Context::failStream, 503 with details wasm_fail_stream before the response started, a reset
// after.
func (ex *exchange) fail(err error) {
	ex.proxy.logf(LogError, "wasmhost: %s %s: %v", ex.r.Method, ex.r.RequestURI, err)
	ex.reply(&LocalReply{Status: http.StatusServiceUnavailable, Details: "wasm_fail_stream", Body: []byte("WAF plugin failed\n"),
		Headers: Headers{{"content-type", "text/plain"}}})
}

func (ex *exchange) reset() {
	ex.finished = true
	ex.closeUpstream()
	ex.abort = true
}

// closeUpstream abandons the upstream request: its body pipe fails and its context ends.
func (ex *exchange) closeUpstream() {
	if ex.upBody != nil {
		_ = ex.upBody.CloseWithError(errors.New("wasmhost: stream ended by the plugin"))
	}
	if ex.upResult != nil {
		go func(ch chan upstreamResult) {
			if res := <-ch; res.resp != nil {
				res.resp.Body.Close()
			}
		}(ex.upResult)
		ex.upResult = nil
	}
}

// headerCountAndSize counts a request's header fields and their bytes (names and values).
func headerCountAndSize(h http.Header) (n, size int) {
	for k, vs := range h {
		for _, v := range vs {
			n++
			size += len(k) + len(v)
		}
	}
	return n, size
}

// hopByHop are connection headers a proxy does not forward (RFC 9110 §7.6.1).
var hopByHop = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true, "transfer-encoding": true,
	"te": true, "upgrade": true, "trailer": true, "proxy-authenticate": true,
}

// requestHeaders is the header map Envoy builds for an HTTP/1.1 request: pseudo-headers first,
// then the regular headers lower-cased (Go merged their order by name; sorted for stability).
func requestHeaders(r *http.Request) Headers {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	h := Headers{{":method", r.Method}, {":path", uri}, {":authority", r.Host}, {":scheme", scheme}}
	hdr := r.Header
	if len(r.TransferEncoding) > 0 {
		// net/http moves Transfer-Encoding out of the header; Envoy's HTTP/1 codec leaves it
		// in the map the filters see (CRS 920171 looks for it on GET and HEAD).
		hdr = r.Header.Clone()
		hdr["Transfer-Encoding"] = r.TransferEncoding
	}
	h = appendHeader(h, hdr)
	// Envoy's connection manager sets x-forwarded-proto before the filters run.
	if r.Header.Get("X-Forwarded-Proto") == "" {
		h = append(h, [2]string{"x-forwarded-proto", scheme})
	}
	return h
}

func responseHeaders(resp *http.Response) Headers {
	return appendHeader(Headers{{":status", strconv.Itoa(resp.StatusCode)}}, resp.Header)
}

func appendHeader(h Headers, hdr http.Header) Headers {
	keys := make([]string, 0, len(hdr))
	for k := range hdr {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		lk := strings.ToLower(k)
		for _, v := range hdr[k] {
			h = append(h, [2]string{lk, v})
		}
	}
	return h
}

// trailerHeaders returns the trailers that arrived, nil when there are none.
func trailerHeaders(t http.Header) Headers {
	has := false
	for _, vs := range t {
		if len(vs) > 0 {
			has = true
		}
	}
	if !has {
		return nil
	}
	return appendHeader(Headers{}, t)
}

func protocolName(r *http.Request) string {
	switch {
	case r.ProtoMajor == 2:
		return "HTTP/2"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// newUUID returns a random (version 4) UUID, the form of Envoy's generated request ids.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// upstreamTransport forwards requests as the plugin left them. Go's default transport would add
// "Accept-Encoding: gzip" to requests that lack it and transparently decompress the answer, so
// the upstream would see a header the client never sent and the plugin a body the client never
// receives; Envoy does neither.
func upstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableCompression = true
	return t
}
