package wasmplugin

import (
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"

	"github.com/corazawaf/coraza/v3/debuglog"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/meshwaf/meshwaf/internal/abi"
)

// logSink writes one line to the proxy's log. Production uses abi.Log; native tests record.
type logSink func(level abi.LogLevel, msg string)

// severityLevel maps a rule's severity to the proxy log level of its match line, so operators
// can filter attack reports (CRS: CRITICAL) from notices.
func severityLevel(s types.RuleSeverity) abi.LogLevel {
	switch s {
	case types.RuleSeverityEmergency, types.RuleSeverityAlert, types.RuleSeverityCritical:
		return abi.LogLevelCritical
	case types.RuleSeverityError:
		return abi.LogLevelError
	case types.RuleSeverityWarning:
		return abi.LogLevelWarn
	case types.RuleSeverityNotice, types.RuleSeverityInfo:
		return abi.LogLevelInfo
	case types.RuleSeverityDebug:
		return abi.LogLevelDebug
	}
	// Rules without a severity (markers such as the FTW rule 999999) log at info.
	return abi.LogLevelInfo
}

// matchedRuleLogger returns the WAF's error callback: one line per matched rule in Coraza's
// error-log form ([id "N"] [msg "…"] …), which the FTW runner and log tooling parse. A rule
// that interrupts the transaction logs at warn at least, whatever its severity: CRS's blocking
// rules (949110, 959100) have none, and the line saying a request was denied must not sit at
// info below the detections that led to it.
func matchedRuleLogger(sink logSink) func(types.MatchedRule) {
	return func(mr types.MatchedRule) {
		level := severityLevel(mr.Rule().Severity())
		if level < abi.LogLevelWarn && interrupts(mr) {
			level = abi.LogLevelWarn
		}
		sink(level, mr.ErrorLog())
	}
}

// interrupts reports whether a matched rule interrupts the transaction (deny, drop, redirect,
// or another disruptive action), as opposed to pass and allow, which Coraza also reports as
// Disruptive(). Coraza keeps the action in the exported field DisruptiveAction_ of its
// internal MatchedRule, with no method for it (types.MatchedRule gains one only in v4), so it
// is read by reflection; TestInterruptingRuleLogsAtWarn pins this against the Coraza in go.mod.
func interrupts(mr types.MatchedRule) bool {
	if !mr.Disruptive() { // false in DetectionOnly: nothing is interrupted
		return false
	}
	v := reflect.ValueOf(mr)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return true
	}
	idx, ok := disruptiveActionField(v.Type())
	if !ok {
		return true
	}
	f := v.Field(idx)
	// Coraza's corazarules.DisruptiveAction values: 1 allow, 4 pass.
	const allow, pass = 1, 4
	switch f.Int() {
	case allow, pass:
		return false
	}
	return true
}

// disruptiveActionFields caches, per matched-rule type, the index of its integer field
// DisruptiveAction_ (-1: none): a field lookup by name on every matched rule showed in
// profiles of rule-heavy traffic. A VM is single-threaded, but tests call this natively from
// several goroutines, hence the sync.Map.
var disruptiveActionFields sync.Map // reflect.Type -> int

func disruptiveActionField(t reflect.Type) (int, bool) {
	if idx, ok := disruptiveActionFields.Load(t); ok {
		return idx.(int), idx.(int) >= 0
	}
	idx := -1
	if f, ok := t.FieldByName("DisruptiveAction_"); ok && len(f.Index) == 1 {
		switch f.Type.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			idx = f.Index[0]
		}
	}
	disruptiveActionFields.Store(t, idx)
	return idx, idx >= 0
}

// debugLevel maps Coraza's SecDebugLogLevel levels to proxy log levels.
func debugLevel(l debuglog.Level) abi.LogLevel {
	switch {
	case l <= debuglog.LevelError:
		return abi.LogLevelError
	case l == debuglog.LevelWarn:
		return abi.LogLevelWarn
	case l == debuglog.LevelInfo:
		return abi.LogLevelInfo
	case l >= debuglog.LevelTrace:
		return abi.LogLevelTrace
	}
	return abi.LogLevelDebug
}

// newDebugLogger is Coraza's debug logger writing to the proxy log: SecDebugLogLevel sets the
// level. SecDebugLog accepts only /dev/stdout and /dev/stderr (a Wasm module has no files;
// checkDebugLog refuses any other target), and with either the output still goes to the
// proxy log: the printer ignores the writer Coraza hands it. It starts at error level so
// that, as with Coraza's default, only problems show without SecDebugLogLevel.
func newDebugLogger(sink logSink, prefix string) debuglog.Logger {
	return debuglog.DefaultWithPrinterFactory(func(io.Writer) debuglog.Printer {
		return func(lvl debuglog.Level, message, fields string) {
			line := prefix + message
			if fields != "" {
				line += " " + fields
			}
			sink(debugLevel(lvl), line)
		}
	}).WithLevel(debuglog.LevelError)
}

// warnf logs a start-up warning.
func warnf(sink logSink, format string, args ...any) {
	sink(abi.LogLevelWarn, "meshwaf: "+strings.TrimSpace(fmt.Sprintf(format, args...)))
}
