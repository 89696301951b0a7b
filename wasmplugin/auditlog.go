package wasmplugin

import (
	"fmt"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"

	"github.com/meshwaf/meshwaf/internal/abi"
)

// A Wasm module has no files, sockets or syslog, so every audit log goes to the proxy log:
// "SecAuditLogType Proxy" says so explicitly, and the file-based types users already write
// (Serial, Concurrent) are redirected there instead of failing. HTTPS and Syslog need the
// network: Coraza's writers would start and fail on every write (HTTPS) or fail with a bare
// dial error (Syslog), so they are replaced by writers that refuse the configuration, saying
// why. Formats (SecAuditLogFormat JSON, Native, …) are Coraza's own.
func init() {
	plugins.RegisterAuditLogWriter("proxy", func() plugintypes.AuditLogWriter { return &auditWriter{always: true} })
	plugins.RegisterAuditLogWriter("serial", func() plugintypes.AuditLogWriter { return &auditWriter{kind: "Serial"} })
	plugins.RegisterAuditLogWriter("concurrent", func() plugintypes.AuditLogWriter { return &auditWriter{kind: "Concurrent"} })
	plugins.RegisterAuditLogWriter("https", func() plugintypes.AuditLogWriter { return unsupportedWriter("HTTPS") })
	plugins.RegisterAuditLogWriter("syslog", func() plugintypes.AuditLogWriter { return unsupportedWriter("Syslog") })
}

// unsupportedWriter is an audit log type that cannot work in Wasm: Coraza calls Init when it
// builds the WAF, so the configuration is refused at start-up.
type unsupportedWriter string

func (w unsupportedWriter) Init(plugintypes.AuditLogConfig) error {
	return fmt.Errorf("SecAuditLogType %s cannot work in a Wasm module: it has no network access; use SecAuditLogType Proxy (audit entries in the proxy log)", string(w))
}

func (unsupportedWriter) Write(plugintypes.AuditLog) error { return nil }

func (unsupportedWriter) Close() error { return nil }

// auditSink is where audit entries go; replaced only by tests.
var auditSink logSink = abi.Log

type auditWriter struct {
	// always writes even without a SecAuditLog target; the file-based types keep Coraza's
	// rule that no target means no audit log.
	always    bool
	kind      string // the SecAuditLogType a file-based writer stands in for
	formatter plugintypes.AuditLogFormatter
}

func (w *auditWriter) Init(c plugintypes.AuditLogConfig) error {
	if c.Target == "" && !w.always {
		return nil
	}
	if !w.always {
		// Said once per directive set (Coraza initialises the writer when it builds the WAF),
		// so a user looking for the file learns where the entries are.
		auditSink(abi.LogLevelInfo, fmt.Sprintf("meshwaf: SecAuditLog %q is not opened: a Wasm module has no file system; SecAuditLogType %s entries go to the proxy log", c.Target, w.kind))
	}
	w.formatter = c.Formatter
	return nil
}

func (w *auditWriter) Write(al plugintypes.AuditLog) error {
	if w.formatter == nil {
		return nil
	}
	b, err := w.formatter.Format(al)
	if err != nil || len(b) == 0 {
		return err
	}
	auditSink(abi.LogLevelInfo, string(b))
	return nil
}

func (w *auditWriter) Close() error { return nil }
