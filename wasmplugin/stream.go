package wasmplugin

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/meshwaf/meshwaf/internal/abi"
)

// stream is one HTTP stream going through a WAF transaction. The request is held (headers
// paused, body buffered by the host) while Coraza may still interrupt it, so nothing reaches
// the upstream before phase 2 has run; likewise the response headers are held while its body
// is inspected, so a phase-4 match can still replace the response.
type stream struct {
	p         *plugin
	tx        types.Transaction
	authority string
	// set is the directive set inspecting the stream; route is the routing entry that chose
	// it: the metrics' authority label.
	set       *wafSet
	route     string
	requestID string
	protocol  string

	// reqBodyFed and respBodyFed count the bytes already written to Coraza; the host's buffer
	// grows while the stream is paused, and only the new part is read.
	reqBodyFed, respBodyFed int
	reqBodyDone             bool // phase 2 has run
	respBodyInspect         bool // response headers held for the body
	respBodyDone            bool // phase 4 has run
	// replied is set once a local reply or reset was issued; later callbacks (Envoy runs the
	// response callbacks for the plugin's own reply) let everything through.
	replied bool
	logged  bool
	// phase is the Coraza phase the stream is in (0 before the transaction exists), for the
	// context of a failure.
	phase types.RulePhase
	// failed is set when the WAF failed on the stream (fail): in failure_mode open the stream
	// goes on uninspected; panicked says the transaction may be half-updated.
	failed, panicked bool
	// callback is the Proxy-Wasm callback in flight, for the same context.
	callback string
}

// passing reports whether the stream is no business of the WAF any more.
func (s *stream) passing() bool { return s.tx == nil || s.replied || s.failed }

func (s *stream) OnRequestHeaders(_ int, endOfStream bool) abi.Action {
	s.callback = "OnRequestHeaders"
	headers, err := abi.RequestHeaders.Pairs()
	if err != nil {
		return s.fail("reading request headers: "+err.Error(), nil)
	}
	var method, path string
	for _, h := range headers {
		switch h.Name {
		case ":authority":
			s.authority = h.Value
		case ":method":
			method = h.Value
		case ":path":
			path = h.Value
		case "host":
			if s.authority == "" {
				s.authority = h.Value
			}
		case "x-request-id":
			s.requestID = h.Value
		}
	}
	waf, route := s.p.wafFor(s.authority)
	if waf == nil {
		return abi.ActionContinue
	}
	s.set, s.route = waf, route
	if s.requestID != "" {
		s.tx = waf.NewTransactionWithID(s.requestID)
	} else {
		s.tx = waf.NewTransaction()
	}
	s.p.metrics.transaction()
	if s.tx.IsRuleEngineOff() {
		return abi.ActionContinue
	}
	tx := s.tx
	s.phase = types.PhaseRequestHeaders

	srcIP, srcPort := address("source")
	dstIP, dstPort := address("destination")
	tx.ProcessConnection(srcIP, srcPort, dstIP, dstPort)
	s.protocol, err = abi.PropertyString("request", "protocol")
	if err != nil || s.protocol == "" {
		s.protocol = "HTTP/1.1"
	}
	tx.ProcessURI(path, method, s.protocol)
	for _, h := range headers {
		if strings.HasPrefix(h.Name, ":") {
			continue
		}
		tx.AddRequestHeader(h.Name, h.Value)
	}
	// HTTP/2 and HTTP/3 carry the host in :authority; rules look for Host.
	if s.authority != "" {
		if _, hasHost := headerValue(headers, "host"); !hasHost {
			tx.AddRequestHeader("Host", s.authority)
		}
		tx.SetServerName(hostOf(s.authority))
	}
	if it := tx.ProcessRequestHeaders(); it != nil {
		return s.interrupt(it, types.PhaseRequestHeaders)
	}
	// Phase 2 runs now when no body will come, or when the body is not inspected: its rules
	// then see nothing they would not see at the end of the stream, and the body can stream.
	if endOfStream || !tx.IsRequestBodyAccessible() {
		return s.finishRequestBody()
	}
	return abi.ActionPause
}

func (s *stream) OnRequestBody(size int, endOfStream bool) abi.Action {
	s.callback = "OnRequestBody"
	if s.passing() || s.reqBodyDone {
		return abi.ActionContinue
	}
	if size > s.reqBodyFed {
		chunk, err := abi.RequestBody.Bytes(s.reqBodyFed, size-s.reqBodyFed)
		if err != nil {
			return s.fail("reading request body: "+err.Error(), nil)
		}
		s.phase = types.PhaseRequestBody
		s.reqBodyFed = size
		it, n, err := s.tx.WriteRequestBody(chunk)
		if err != nil {
			return s.fail("inspecting request body: "+err.Error(), nil)
		}
		if it != nil {
			return s.interrupt(it, types.PhaseRequestBody)
		}
		if n < len(chunk) || bodyLimitReached(s.tx, false) {
			// The body limit was reached under ProcessPartial: Coraza inspected the first
			// bytes; the rest streams on without being held.
			return s.finishRequestBody()
		}
	}
	if endOfStream {
		return s.finishRequestBody()
	}
	return abi.ActionPause
}

// OnRequestTrailers ends the body: phase 2 must run before the request goes on, also for
// requests whose body ends with trailers rather than an end-of-stream body chunk. The trailers
// join REQUEST_HEADERS first: Envoy forwards them upstream, and CRS runs most of its header
// rules in phase 2, so an attack moved into a trailer is still seen.
func (s *stream) OnRequestTrailers(int) abi.Action {
	s.callback = "OnRequestTrailers"
	if s.passing() || s.reqBodyDone {
		return abi.ActionContinue
	}
	trailers, err := abi.RequestTrailers.Pairs()
	if err != nil {
		return s.fail("reading request trailers: "+err.Error(), nil)
	}
	s.phase = types.PhaseRequestBody
	for _, h := range trailers {
		s.tx.AddRequestHeader(h.Name, h.Value)
	}
	return s.finishRequestBody()
}

// finishRequestBody runs phase 2 and lets the request go on unless it interrupts.
func (s *stream) finishRequestBody() abi.Action {
	s.reqBodyDone = true
	s.phase = types.PhaseRequestBody
	it, err := s.tx.ProcessRequestBody()
	if err != nil {
		return s.fail("processing request body: "+err.Error(), nil)
	}
	if it != nil {
		return s.interrupt(it, types.PhaseRequestBody)
	}
	return abi.ActionContinue
}

func (s *stream) OnResponseHeaders(_ int, endOfStream bool) abi.Action {
	s.callback = "OnResponseHeaders"
	if s.passing() || s.tx.IsRuleEngineOff() {
		return abi.ActionContinue
	}
	if !s.reqBodyDone {
		// The upstream answered before the request ended (or the host skipped the request
		// callbacks): the request-body phase still runs first, as Coraza expects.
		if a := s.finishRequestBody(); s.replied || s.failed {
			return a
		}
	}
	headers, err := abi.ResponseHeaders.Pairs()
	if err != nil {
		return s.fail("reading response headers: "+err.Error(), nil)
	}
	s.phase = types.PhaseResponseHeaders
	status := 0
	for _, h := range headers {
		if h.Name == ":status" {
			status, _ = strconv.Atoi(h.Value)
			continue
		}
		if strings.HasPrefix(h.Name, ":") {
			continue
		}
		s.tx.AddResponseHeader(h.Name, h.Value)
	}
	if it := s.tx.ProcessResponseHeaders(status, s.protocol); it != nil {
		return s.interrupt(it, types.PhaseResponseHeaders)
	}
	if endOfStream || !s.tx.IsResponseBodyAccessible() || !s.tx.IsResponseBodyProcessable() {
		// No body to inspect: phase 4 runs on what is known, before the headers leave.
		return s.finishResponseBody()
	}
	// Hold the headers until the body's verdict, so a match becomes a real local reply
	// (Envoy replaces a held response) rather than a mangled one.
	s.respBodyInspect = true
	return abi.ActionPause
}

func (s *stream) OnResponseBody(size int, endOfStream bool) abi.Action {
	s.callback = "OnResponseBody"
	if s.passing() || !s.respBodyInspect || s.respBodyDone {
		return abi.ActionContinue
	}
	if size > s.respBodyFed {
		chunk, err := abi.ResponseBody.Bytes(s.respBodyFed, size-s.respBodyFed)
		if err != nil {
			return s.fail("reading response body: "+err.Error(), nil)
		}
		s.phase = types.PhaseResponseBody
		s.respBodyFed = size
		it, n, err := s.tx.WriteResponseBody(chunk)
		if err != nil {
			return s.fail("inspecting response body: "+err.Error(), nil)
		}
		if it != nil {
			return s.interrupt(it, types.PhaseResponseBody)
		}
		if n < len(chunk) || bodyLimitReached(s.tx, true) {
			return s.finishResponseBody()
		}
	}
	if endOfStream {
		return s.finishResponseBody()
	}
	return abi.ActionPause
}

func (s *stream) OnResponseTrailers(int) abi.Action {
	s.callback = "OnResponseTrailers"
	if s.passing() || s.respBodyDone {
		return abi.ActionContinue
	}
	return s.finishResponseBody()
}

func (s *stream) finishResponseBody() abi.Action {
	s.respBodyDone = true
	s.phase = types.PhaseResponseBody
	it, err := s.tx.ProcessResponseBody()
	if err != nil {
		return s.fail("processing response body: "+err.Error(), nil)
	}
	if it != nil {
		return s.interrupt(it, types.PhaseResponseBody)
	}
	return abi.ActionContinue
}

// OnStreamDone runs phase 5 once for every stream, completed or reset, and releases the
// transaction.
func (s *stream) OnStreamDone() {
	s.callback = "OnStreamDone"
	if s.p.memory != nil {
		defer s.p.memory.streamDone()
	}
	if s.tx == nil || s.logged {
		return
	}
	s.logged = true
	tx := s.tx
	if s.panicked {
		// The panic may have left the transaction half-updated: it is neither run through
		// phase 5 nor handed back to Coraza's pool, only dropped for the GC.
		s.tx = nil
		return
	}
	s.phase = types.PhaseLogging
	defer func() {
		if err := tx.Close(); err != nil {
			s.p.sink(abi.LogLevelWarn, "meshwaf: closing transaction: "+err.Error())
		}
		s.tx = nil
	}()
	if tx.IsRuleEngineOff() {
		return
	}
	tx.ProcessLogging()
	s.p.countMatches(tx, s.route)
	if d, ok := tx.(interface{ DetectionOnlyInterruption() *types.Interruption }); ok {
		if it := d.DetectionOnlyInterruption(); it != nil {
			s.p.sink(abi.LogLevelInfo, fmt.Sprintf("meshwaf: DetectionOnly: rule %d would have interrupted transaction %s (%s, status %d)",
				it.RuleID, tx.ID(), it.Action, it.Status))
		}
	}
}

// bodyLimitReached reports whether Coraza's buffer of the request (or response) body is full.
// Under ProcessPartial Coraza has then run the body phase itself, on the first N bytes, and
// takes nothing more. A chunk that fills the buffer exactly is written whole, so the count
// WriteRequestBody returns does not tell, and holding that chunk would stall the stream until
// the next one arrives; INBOUND_DATA_ERROR (OUTBOUND_DATA_ERROR) does tell, also when a ctl
// action changed the limit for this transaction.
func bodyLimitReached(tx types.Transaction, response bool) bool {
	st, ok := tx.(plugintypes.TransactionState)
	if !ok {
		return false
	}
	v := st.Variables().InboundDataError()
	if response {
		v = st.Variables().OutboundDataError()
	}
	return v.Get() == "1"
}

// address reads an "ip:port" property such as source.address, preferring the integer
// <prefix>.port property for the port.
func address(prefix string) (string, int) {
	addr, err := abi.PropertyString(prefix, "address")
	if err != nil {
		return "", 0
	}
	host, portStr, splitErr := net.SplitHostPort(addr)
	if splitErr != nil {
		host = addr
	}
	if p, err := abi.PropertyInt(prefix, "port"); err == nil {
		return host, int(p)
	}
	port, _ := strconv.Atoi(portStr)
	return host, port
}

func headerValue(headers []abi.Header, name string) (string, bool) {
	for _, h := range headers {
		if strings.EqualFold(h.Name, name) {
			return h.Value, true
		}
	}
	return "", false
}
