package wasmplugin

import (
	"fmt"
	"io"
	"strings"

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
// error-log form ([id "N"] [msg "…"] …), which the FTW runner and log tooling parse.
func matchedRuleLogger(sink logSink) func(types.MatchedRule) {
	return func(mr types.MatchedRule) {
		sink(severityLevel(mr.Rule().Severity()), mr.ErrorLog())
	}
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
// level, and SecDebugLog's target is ignored (a Wasm module has no files). It starts at
// error level so that, as with Coraza's default, only problems show without SecDebugLogLevel.
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
