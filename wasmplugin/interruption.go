package wasmplugin

import (
	"fmt"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/meshwaf/meshwaf/internal/abi"
)

// reply is the local response for an interruption; nil for a drop.
func reply(it *types.Interruption) *abi.LocalResponse {
	switch it.Action {
	case "drop":
		return nil
	case "redirect":
		status := it.Status
		if status < 300 || status > 399 {
			status = 302
		}
		return &abi.LocalResponse{
			StatusCode: status,
			Details:    fmt.Sprintf("meshwaf_redirect_rule_%d", it.RuleID),
			Headers:    []abi.Header{{Name: "location", Value: it.Data}},
			GRPCStatus: -1,
		}
	}
	status := it.Status
	if status < 100 || status > 599 || it.Status == 0 {
		status = 403
	}
	return &abi.LocalResponse{
		StatusCode: status,
		// Envoy shows details in %RESPONSE_CODE_DETAILS%; it must not contain spaces.
		Details:    fmt.Sprintf("meshwaf_interrupted_rule_%d", it.RuleID),
		Body:       fmt.Appendf(nil, "Request blocked by the WAF (rule %d).\n", it.RuleID),
		GRPCStatus: -1,
	}
}

// interrupt acts on a Coraza interruption: counts it, then answers locally (or resets the
// stream for drop). The callback returns ActionPause so nothing more moves on.
func (s *stream) interrupt(it *types.Interruption, phase types.RulePhase) abi.Action {
	s.replied = true
	s.p.metrics.interruption(it.RuleID, phase, s.route)
	r := reply(it)
	if r == nil {
		dir := abi.StreamRequest
		if phase >= types.PhaseResponseHeaders {
			dir = abi.StreamResponse
		}
		if err := abi.CloseStream(dir); err != nil {
			s.p.sink(abi.LogLevelError, fmt.Sprintf("meshwaf: drop by rule %d: closing stream: %v", it.RuleID, err))
		}
		return abi.ActionPause
	}
	contentType := ""
	if len(r.Body) > 0 {
		contentType = "text/plain; charset=utf-8"
	}
	r.Headers = append(r.Headers, s.replyHeaders(contentType)...)
	if err := abi.SendLocalResponse(*r); err != nil {
		s.p.sink(abi.LogLevelError, fmt.Sprintf("meshwaf: interruption by rule %d: sending local reply: %v", it.RuleID, err))
	}
	return abi.ActionPause
}

// replyHeaders are the headers of every local reply: its content type, and the request id so
// the client's report can be found in the logs.
func (s *stream) replyHeaders(contentType string) []abi.Header {
	var h []abi.Header
	if contentType != "" {
		h = append(h, abi.Header{Name: "content-type", Value: contentType})
	}
	if s.requestID != "" {
		h = append(h, abi.Header{Name: "x-request-id", Value: s.requestID})
	}
	return h
}
