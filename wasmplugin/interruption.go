package wasmplugin

import (
	"fmt"
	"strings"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/meshwaf/meshwaf/internal/abi"
)

// reply is the local response for an interruption; nil for a drop.
func reply(it *types.Interruption, phase types.RulePhase) *abi.LocalResponse {
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
	r := &abi.LocalResponse{
		StatusCode: status,
		// Envoy shows details in %RESPONSE_CODE_DETAILS%; it must not contain spaces.
		Details:    fmt.Sprintf("meshwaf_interrupted_rule_%d", it.RuleID),
		Body:       fmt.Appendf(nil, "Request blocked by the WAF (rule %d).\n", it.RuleID),
		GRPCStatus: -1,
	}
	switch bodyLimitExceeded(it, phase) {
	case types.PhaseRequestBody:
		r.StatusCode = 413
		r.Details = "meshwaf_request_body_limit"
		r.Body = []byte("Request body exceeds the WAF's limit.\n")
	case types.PhaseResponseBody:
		r.Details = "meshwaf_response_body_limit"
		r.Body = []byte("Response body exceeds the WAF's limit.\n")
	}
	return r
}

// bodyLimitExceeded tells an interruption by a body limit (SecRequestBodyLimitAction or
// SecResponseBodyLimitAction Reject) from a rule's: Coraza raises it with no rule, as rule id
// 0, while writing a body. It returns the body's phase, or 0 for a rule's interruption.
func bodyLimitExceeded(it *types.Interruption, phase types.RulePhase) types.RulePhase {
	if it.RuleID != 0 || it.Action != "deny" {
		return 0
	}
	switch phase {
	case types.PhaseRequestBody, types.PhaseResponseBody:
		return phase
	}
	return 0
}

// interrupt acts on a Coraza interruption: counts it, then answers locally (or resets the
// stream for drop). The callback returns ActionPause so nothing more moves on.
func (s *stream) interrupt(it *types.Interruption, phase types.RulePhase) abi.Action {
	s.replied = true
	s.p.metrics.interruption(it.RuleID, phase, s.route)
	s.logBodyLimit(it, phase)
	r := reply(it, phase)
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

// logBodyLimit logs, at warn, a body over its limit: Coraza's own log of it names no rule and
// no limit, and the reply is all the client learns.
func (s *stream) logBodyLimit(it *types.Interruption, phase types.RulePhase) {
	var directive string
	var limit int64
	switch bodyLimitExceeded(it, phase) {
	case types.PhaseRequestBody:
		directive, limit = "SecRequestBodyLimit", s.set.limits.limit
	case types.PhaseResponseBody:
		directive, limit = "SecResponseBodyLimit", s.set.limits.response
	default:
		return
	}
	id := ""
	if s.tx != nil {
		id = s.tx.ID()
	}
	s.p.sink(abi.LogLevelWarn, fmt.Sprintf("meshwaf: transaction %s: %s body exceeds %s %d of directive set %q (Reject): status %d",
		id, strings.TrimSuffix(phaseName(phase), "-body"), directive, limit, s.set.name, it.Status))
}
