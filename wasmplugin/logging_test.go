package wasmplugin

import (
	"strings"
	"testing"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/debuglog"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/meshwaf/meshwaf/internal/abi"
)

func TestSeverityLevel(t *testing.T) {
	tests := []struct {
		sev  types.RuleSeverity
		want abi.LogLevel
	}{
		{types.RuleSeverityEmergency, abi.LogLevelCritical},
		{types.RuleSeverityAlert, abi.LogLevelCritical},
		{types.RuleSeverityCritical, abi.LogLevelCritical},
		{types.RuleSeverityError, abi.LogLevelError},
		{types.RuleSeverityWarning, abi.LogLevelWarn},
		{types.RuleSeverityNotice, abi.LogLevelInfo},
		{types.RuleSeverityInfo, abi.LogLevelInfo},
		{types.RuleSeverityDebug, abi.LogLevelDebug},
		{types.RuleSeverityUnset, abi.LogLevelInfo},
	}
	for _, tc := range tests {
		t.Run(tc.sev.String(), func(t *testing.T) {
			if got := severityLevel(tc.sev); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestDebugLoggerFollowsSecDebugLogLevel(t *testing.T) {
	var rec logRecorder
	l := newDebugLogger(rec.sink, "coraza[x]: ")
	l.Info().Msg("hidden at the default level")
	l.Error().Str("k", "v").Msg("shown")
	l = l.WithLevel(debuglog.LevelDebug) // what SecDebugLogLevel 4 does
	l.Debug().Msg("debug now")
	l.Trace().Msg("still hidden")
	want := []string{`error coraza[x]: shown k="v"`, `debug coraza[x]: debug now`}
	if len(rec.lines) != len(want) {
		t.Fatalf("lines %q, want %q", rec.lines, want)
	}
	for i := range want {
		if rec.lines[i] != want[i] {
			t.Errorf("line %d = %q, want %q", i, rec.lines[i], want[i])
		}
	}
}

func TestDebugLevelMapping(t *testing.T) {
	for lvl, want := range map[debuglog.Level]abi.LogLevel{
		debuglog.LevelError: abi.LogLevelError, debuglog.LevelWarn: abi.LogLevelWarn,
		debuglog.LevelInfo: abi.LogLevelInfo, debuglog.LevelDebug: abi.LogLevelDebug,
		debuglog.LevelTrace: abi.LogLevelTrace,
	} {
		if got := debugLevel(lvl); got != want {
			t.Errorf("debugLevel(%s) = %s, want %s", lvl, got, want)
		}
	}
}

func TestInterruptingRuleLogsAtWarn(t *testing.T) {
	tests := []struct {
		name, rule string
		engine     string
		want       abi.LogLevel
	}{
		{"deny_without_severity_warn", `"id:1,phase:1,deny,status:403,log,msg:'blocked'"`, "On", abi.LogLevelWarn},
		{"drop_without_severity_warn", `"id:1,phase:1,drop,log,msg:'dropped'"`, "On", abi.LogLevelWarn},
		{"redirect_notice_warn", `"id:1,phase:1,redirect:https://example.com/,log,severity:NOTICE,msg:'moved'"`, "On", abi.LogLevelWarn},
		{"deny_critical_stays_critical", `"id:1,phase:1,deny,log,severity:CRITICAL,msg:'blocked'"`, "On", abi.LogLevelCritical},
		{"pass_without_severity_info", `"id:1,phase:1,pass,log,msg:'noted'"`, "On", abi.LogLevelInfo},
		{"allow_without_severity_info", `"id:1,phase:1,allow,log,msg:'allowed'"`, "On", abi.LogLevelInfo},
		{"deny_in_detection_only_info", `"id:1,phase:1,deny,log,msg:'would block'"`, "DetectionOnly", abi.LogLevelInfo},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var rec logRecorder
			waf, err := coraza.NewWAF(coraza.NewWAFConfig().
				WithErrorCallback(matchedRuleLogger(rec.sink)).
				WithDirectives("SecRuleEngine " + tc.engine).
				WithDirectives(`SecRule ARGS:a "@streq x" ` + tc.rule))
			if err != nil {
				t.Fatal(err)
			}
			tx := waf.NewTransaction()
			defer tx.Close()
			tx.ProcessURI("/?a=x", "GET", "HTTP/1.1")
			tx.ProcessRequestHeaders()
			if len(rec.lines) != 1 {
				t.Fatalf("lines %q", rec.lines)
			}
			if !strings.HasPrefix(rec.lines[0], tc.want.String()+" ") {
				t.Fatalf("line %q, want level %s", rec.lines[0], tc.want)
			}
		})
	}
}

func TestReplyForBodyLimits(t *testing.T) {
	tests := []struct {
		name    string
		it      types.Interruption
		phase   types.RulePhase
		status  int
		body    string
		details string
	}{
		{"request_body_over_limit_413", types.Interruption{Action: "deny", Status: 413}, types.PhaseRequestBody,
			413, "Request body exceeds the WAF's limit.\n", "meshwaf_request_body_limit"},
		{"response_body_over_limit_keeps_corazas_status", types.Interruption{Action: "deny", Status: 500}, types.PhaseResponseBody,
			500, "Response body exceeds the WAF's limit.\n", "meshwaf_response_body_limit"},
		{"rule_in_request_body_phase", types.Interruption{RuleID: 949110, Action: "deny", Status: 403}, types.PhaseRequestBody,
			403, "Request blocked by the WAF (rule 949110).\n", "meshwaf_interrupted_rule_949110"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := reply(&tc.it, tc.phase)
			if r.StatusCode != tc.status || string(r.Body) != tc.body || r.Details != tc.details {
				t.Fatalf("reply %d %q %q; want %d %q %q", r.StatusCode, r.Body, r.Details, tc.status, tc.body, tc.details)
			}
		})
	}
}
