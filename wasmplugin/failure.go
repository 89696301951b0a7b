package wasmplugin

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/meshwaf/meshwaf/internal/abi"
)

// A failure is the WAF failing on a stream: a panic in one of the stream's callbacks (the
// dispatcher recovers it and calls OnPanic) or an error from Coraza or the host while
// inspecting it. failure_mode says what the stream gets (docs/security.md, "Failure
// behaviour"); both are logged with the context an operator needs and counted.

var _ abi.PanicHandler = (*stream)(nil)

// OnPanic ends a stream whose callback panicked, as failure_mode says. The dispatcher runs no
// later callback of the stream, so in mode open what is held is released by this callback's
// ActionContinue: Envoy resumes paused headers (and the buffered body) when a later callback
// of the same direction continues.
func (s *stream) OnPanic(where string, recovered any, stack []byte) abi.Action {
	s.callback = where
	s.panicked = true
	return s.fail(fmt.Sprintf("panic: %v", recovered), stack)
}

// fail ends a stream the WAF could not inspect. Closed answers 500 and pauses, so an uninspected
// request never reaches the upstream (nor an uninspected response the client: after the
// response headers left, Envoy can only reset). Open lets the stream go on uninspected: it is
// marked failed, so every later callback passes.
//
// The status is 500 rather than a rule's 403: the WAF did not find the request bad, it failed,
// and a 500 tells the client, the operator's dashboards and a retry policy that much.
func (s *stream) fail(cause string, stack []byte) abi.Action {
	s.failed = true
	mode := s.p.failureMode
	s.p.metrics.failure(mode, s.phase, s.route)
	outcome := "answered 500"
	if mode == FailOpen {
		outcome = "the stream goes on uninspected"
	}
	id := s.failureContext()
	s.p.sink(abi.LogLevelError, fmt.Sprintf("meshwaf: WAF failure in %s (%s): %s; failure_mode %s: %s",
		s.callback, id.String(), cause, mode, outcome))
	if len(stack) > 0 {
		s.p.sink(abi.LogLevelDebug, fmt.Sprintf("meshwaf: transaction %s: stack of the panic in %s:\n%s", id.tx, s.callback, stack))
	}
	if mode == FailOpen {
		return abi.ActionContinue
	}
	s.replied = true
	if err := abi.SendLocalResponse(abi.LocalResponse{
		StatusCode: 500, Details: "meshwaf_inspection_failed",
		Headers: s.replyHeaders("text/plain"),
		Body:    []byte("internal error in the WAF\n"), GRPCStatus: -1,
	}); err != nil {
		s.p.sink(abi.LogLevelCritical, fmt.Sprintf("meshwaf: could not fail the stream closed: %v", err))
	}
	return abi.ActionPause
}

// failure is the context of a failure's log line.
type failure struct {
	phase, set, tx string
	lastRule       int
}

func (f failure) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s, directive set %q, transaction %s, last matched rule ", f.phase, f.set, f.tx)
	if f.lastRule == 0 {
		b.WriteString("none")
	} else {
		b.WriteString(strconv.Itoa(f.lastRule))
	}
	return b.String()
}

// failureContext reads what the stream knows of where it failed. The transaction may be
// half-updated by a panic; reading it must not turn a handled failure into a second panic.
func (s *stream) failureContext() (f failure) {
	f.phase, f.tx = failurePhase(s.phase), s.requestID
	if s.set != nil {
		f.set = s.set.name
	}
	defer func() {
		if r := recover(); r != nil {
			f.tx += " (transaction unreadable: " + fmt.Sprint(r) + ")"
		}
	}()
	if s.tx != nil {
		f.tx = s.tx.ID()
		if mr := s.tx.MatchedRules(); len(mr) > 0 {
			f.lastRule = mr[len(mr)-1].Rule().ID()
		}
	}
	if f.tx == "" {
		f.tx = "none"
	}
	return f
}

// failurePhase is the phase label of a failure: "none" before the transaction exists.
func failurePhase(p types.RulePhase) string {
	if p == 0 {
		return "none"
	}
	return phaseName(p)
}
