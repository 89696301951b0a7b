package wasmhost

import (
	"errors"
	"fmt"
	"strconv"
)

// LocalReply is a response the plugin sent with proxy_send_local_response.
type LocalReply struct {
	Status  int
	Details string // Envoy's response code details; logged, never sent
	Body    []byte
	Headers Headers
	// GRPCStatus is the gRPC status to send, or -1 for none.
	GRPCStatus int32
}

// Step is what one stream event let through the plugin, in order: headers, body, trailers.
// A driver forwards it (upstream for request events, downstream for response events).
type Step struct {
	// Headers are the headers as the plugin left them, set by the step that released them.
	Headers Headers
	// Body holds body bytes released by this step (buffered bytes, as the plugin changed them).
	Body []byte
	// Trailers are set when this step released trailers.
	Trailers Headers
	// EndOfStream reports that this direction is complete after this step.
	EndOfStream bool
	// Reply, when set, is the plugin's local reply: send it instead of the upstream response.
	Reply *LocalReply
	// Reset reports that the stream must be reset (local reply after response headers were
	// sent, or proxy_close_stream).
	Reset bool
}

// ErrStreamClosed is returned when a Stream is used after Close.
var ErrStreamClosed = errors.New("wasmhost: stream closed")

// direction is the host's state for the request or the response of a stream.
type direction struct {
	headers, trailers Headers // nil until received
	body              []byte  // bytes held by the plugin (StopIterationAndBuffer)
	headersReleased   bool
	inputEnded        bool // the last event (eos or trailers) arrived
	ended             bool // end of stream released downstream of the plugin
	dropBody          bool // ContinueAndEndStream: later data never reaches the plugin
	// continueRequested is set by proxy_continue_stream during a callback.
	continueRequested bool
}

// Stream is one HTTP stream context in a VM. Drive it in order (request headers, body,
// trailers, then the response), then Close it. Not safe for concurrent use; the VM is held
// until Close, though the VM's tick still runs between two events, as in Envoy.
type Stream struct {
	vm   *vm
	info StreamInfo
	hc   hostContext
	dirs [2]direction

	pendingReply   *LocalReply // set by the guest during a callback
	resetRequested bool
	finished       bool // a reply, reset or failure ended the stream
	err            error
	closed         bool
	release        func()
}

func (v *vm) newStream(info StreamInfo, release func()) (*Stream, error) {
	v.nextID++
	s := &Stream{vm: v, info: info, release: release}
	s.hc = hostContext{id: v.nextID, stream: s}
	v.stream = s
	// Envoy creates the stream context lazily on the first event; creating it here is
	// indistinguishable to the plugin.
	if _, err := v.call("proxy_on_context_create", v.fn.contextCreate, &s.hc, uint64(s.hc.id), rootContextID); err != nil {
		s.fail(err)
		return s, err
	}
	return s, nil
}

// ID is the stream's context id in its VM.
func (s *Stream) ID() uint32 { return s.hc.id }

// Err is the failure that ended the stream, if any.
func (s *Stream) Err() error { return s.err }

func (s *Stream) fail(err error) {
	s.err = err
	s.finished = true
}

// RequestHeaders delivers the request headers (proxy_on_request_headers).
func (s *Stream) RequestHeaders(h Headers, endOfStream bool) (Step, error) {
	return s.headersEvent(streamRequest, h, endOfStream)
}

// RequestBody delivers a request body chunk (proxy_on_request_body).
func (s *Stream) RequestBody(chunk []byte, endOfStream bool) (Step, error) {
	return s.bodyEvent(streamRequest, chunk, endOfStream)
}

// RequestTrailers delivers the request trailers (proxy_on_request_trailers); they end the
// request.
func (s *Stream) RequestTrailers(t Headers) (Step, error) {
	return s.trailersEvent(streamRequest, t)
}

// ResponseHeaders delivers the response headers, ":status" first (proxy_on_response_headers).
func (s *Stream) ResponseHeaders(h Headers, endOfStream bool) (Step, error) {
	return s.headersEvent(streamResponse, h, endOfStream)
}

// ResponseBody delivers a response body chunk (proxy_on_response_body).
func (s *Stream) ResponseBody(chunk []byte, endOfStream bool) (Step, error) {
	return s.bodyEvent(streamResponse, chunk, endOfStream)
}

// ResponseTrailers delivers the response trailers (proxy_on_response_trailers).
func (s *Stream) ResponseTrailers(t Headers) (Step, error) {
	return s.trailersEvent(streamResponse, t)
}

// Held reports whether the plugin still holds part of the given direction (false: request,
// true: response) that will not be released without further events.
func (s *Stream) Held(response bool) bool {
	s.vm.mu.Lock()
	defer s.vm.mu.Unlock()
	d := &s.dirs[b2i(response)]
	return !s.finished && d.headers != nil && !d.ended
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Stream) usable(t streamType, event string) error {
	if s.closed {
		return ErrStreamClosed
	}
	if s.err != nil {
		return s.err
	}
	d := &s.dirs[t]
	if event != "headers" && d.headers == nil {
		return fmt.Errorf("wasmhost: %s %s before headers", dirName(t), event)
	}
	if event == "headers" && d.headers != nil {
		return fmt.Errorf("wasmhost: %s headers delivered twice", dirName(t))
	}
	if event != "headers" && d.inputEnded {
		return fmt.Errorf("wasmhost: %s %s after end of stream", dirName(t), event)
	}
	return nil
}

func dirName(t streamType) string {
	if t == streamRequest {
		return "request"
	}
	return "response"
}

func (s *Stream) headersEvent(t streamType, h Headers, eos bool) (Step, error) {
	s.vm.mu.Lock() // a tick may be running in the VM
	defer s.vm.mu.Unlock()
	if err := s.usable(t, "headers"); err != nil {
		return Step{}, err
	}
	d := &s.dirs[t]
	d.headers = h.normalised()
	d.inputEnded = eos
	if s.finished {
		return Step{}, nil
	}
	fn, name := s.vm.fn.requestHeaders, "proxy_on_request_headers"
	if t == streamResponse {
		fn, name = s.vm.fn.responseHeaders, "proxy_on_response_headers"
	}
	action, err := s.vm.call(name, fn, &s.hc, uint64(s.hc.id), uint64(len(d.headers)), boolArg(eos))
	if err != nil {
		s.fail(err)
		return Step{}, err
	}
	release := false
	switch uint32(action) {
	case actionContinue:
		release = true
	case action2:
		// ContinueAndEndStream: Envoy forwards the headers as the end of the stream and
		// drops what follows.
		release = true
		d.inputEnded = true
		d.dropBody = true
	default:
		// StopIteration and the StopAll variants hold the headers. Envoy's StopAll* would also
		// stop calling the body callback; this host only resumes within callbacks, so it keeps
		// calling it and treats them as StopIteration.
	}
	return s.after(t, release), nil
}

func (s *Stream) bodyEvent(t streamType, chunk []byte, eos bool) (Step, error) {
	s.vm.mu.Lock() // a tick may be running in the VM
	defer s.vm.mu.Unlock()
	if err := s.usable(t, "body"); err != nil {
		return Step{}, err
	}
	d := &s.dirs[t]
	d.inputEnded = eos
	if s.finished {
		return Step{}, nil
	}
	if d.dropBody {
		return Step{}, nil
	}
	before := len(d.body)
	// docs/abi.md: the callback sees the buffer with the new chunk appended, and
	// body_buffer_length counts all of it.
	d.body = append(d.body, chunk...)
	fn, name := s.vm.fn.requestBody, "proxy_on_request_body"
	if t == streamResponse {
		fn, name = s.vm.fn.responseBody, "proxy_on_response_body"
	}
	action, err := s.vm.call(name, fn, &s.hc, uint64(s.hc.id), uint64(len(d.body)), boolArg(eos))
	if err != nil {
		s.fail(err)
		return Step{}, err
	}
	release := false
	switch uint32(action) {
	case actionContinue:
		release = true
	case action3:
		// StopIterationNoBuffer: Envoy neither forwards nor buffers the chunk; it is lost
		// unless the plugin kept a copy.
		if before <= len(d.body) {
			d.body = d.body[:before]
		}
	default:
		// StopIterationAndBuffer (and Watermark): Envoy keeps the chunk in its buffer.
		if limit := s.vm.plugin.cfg.bufferLimit; limit > 0 && len(d.body) > limit && s.pendingReply == nil {
			// Envoy's buffer limit: 413 for a request, 500 for a response.
			code := 413
			if t == streamResponse {
				code = 500
			}
			s.sendLocalReply(&LocalReply{Status: code, Body: []byte(statusText(code)), GRPCStatus: -1,
				Details: "buffer_limit_exceeded"})
		}
	}
	return s.after(t, release), nil
}

func (s *Stream) trailersEvent(t streamType, tr Headers) (Step, error) {
	s.vm.mu.Lock() // a tick may be running in the VM
	defer s.vm.mu.Unlock()
	if err := s.usable(t, "trailers"); err != nil {
		return Step{}, err
	}
	d := &s.dirs[t]
	d.trailers = tr.normalised()
	d.inputEnded = true
	if s.finished || d.dropBody {
		return Step{}, nil
	}
	fn, name := s.vm.fn.requestTrailers, "proxy_on_request_trailers"
	if t == streamResponse {
		fn, name = s.vm.fn.responseTrailers, "proxy_on_response_trailers"
	}
	action, err := s.vm.call(name, fn, &s.hc, uint64(s.hc.id), uint64(len(d.trailers)))
	if err != nil {
		s.fail(err)
		return Step{}, err
	}
	return s.after(t, uint32(action) == actionContinue), nil
}

// after applies what the guest asked for during a callback of direction t. Local replies and
// resets take effect now, when the callback has returned, as in Envoy.
func (s *Stream) after(t streamType, release bool) Step {
	d := &s.dirs[t]
	if d.continueRequested {
		// proxy_continue_stream resumes iteration: what is held goes on, even if the
		// callback itself returned a Stop action.
		d.continueRequested = false
		release = true
	}
	if s.resetRequested {
		s.finished = true
		return Step{Reset: true}
	}
	if r := s.pendingReply; r != nil {
		s.finished = true
		// Envoy's sendLocalReply: before response headers went downstream the reply replaces
		// the response; after, all it can do is reset the stream.
		if s.dirs[streamResponse].headersReleased {
			return Step{Reset: true}
		}
		return Step{Reply: r}
	}
	if !release || d.ended {
		return Step{}
	}
	var st Step
	if !d.headersReleased {
		st.Headers = d.headers.clone()
		d.headersReleased = true
	}
	if len(d.body) > 0 {
		st.Body = d.body
		d.body = nil
	}
	if d.inputEnded {
		st.Trailers = d.trailers.clone()
		st.EndOfStream = true
		d.ended = true
	}
	return st
}

// sendLocalReply records a reply; Envoy carries it out after the callback returns. The first
// reply of a stream wins.
func (s *Stream) sendLocalReply(r *LocalReply) {
	if s.pendingReply != nil {
		return
	}
	// Envoy's local replies carry a text/plain body unless the plugin set a content type.
	if len(r.Body) > 0 {
		if _, ok := r.Headers.Get("content-type"); !ok {
			r.Headers = append(r.Headers, [2]string{"content-type", "text/plain"})
		}
	}
	s.pendingReply = r
}

// Close ends the stream: proxy_on_done, proxy_on_log, proxy_on_delete, as Envoy calls them
// when the stream is destroyed, then hands the VM back. Calling it twice is a no-op.
func (s *Stream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	v := s.vm
	v.mu.Lock()
	defer func() {
		v.stream = nil
		v.current = v.root
		v.mu.Unlock()
		if s.release != nil {
			s.release()
		}
	}()
	if !v.alive() {
		return nil // the failure was reported by the event that caused it
	}
	id := uint64(s.hc.id)
	// A false from proxy_on_done asks Envoy to wait for proxy_done; this host does not wait.
	if _, err := v.callBool("proxy_on_done", v.fn.done, &s.hc, id); err != nil {
		return err
	}
	if _, err := v.call("proxy_on_log", v.fn.log, &s.hc, id); err != nil {
		return err
	}
	if _, err := v.call("proxy_on_delete", v.fn.delete, &s.hc, id); err != nil {
		return err
	}
	return nil
}

func boolArg(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func statusText(code int) string {
	switch code {
	case 413:
		return "Payload Too Large"
	case 500:
		return "Internal Server Error"
	}
	return strconv.Itoa(code)
}
