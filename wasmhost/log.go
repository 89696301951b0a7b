package wasmhost

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
)

// LogLevel is a Proxy-Wasm log level.
type LogLevel uint32

// Log levels as numbered by the ABI.
const (
	LogTrace LogLevel = iota
	LogDebug
	LogInfo
	LogWarn
	LogError
	LogCritical
)

func (l LogLevel) String() string {
	switch l {
	case LogTrace:
		return "trace"
	case LogDebug:
		return "debug"
	case LogInfo:
		return "info"
	case LogWarn:
		return "warn"
	case LogError:
		return "error"
	case LogCritical:
		return "critical"
	}
	return fmt.Sprintf("level(%d)", uint32(l))
}

// Logger receives the plugin's log messages (proxy_log, and the guest's stdout/stderr lines).
// It is called from every VM, so it must be safe for concurrent use.
type Logger func(level LogLevel, msg string)

// WriterLogger writes one line per message, "[level] message", newlines inside a message
// escaped, so readers such as the FTW runner can match line by line.
func WriterLogger(w io.Writer) Logger {
	var mu sync.Mutex
	return func(level LogLevel, msg string) {
		line := "[" + level.String() + "] " + strings.ReplaceAll(msg, "\n", `\n`) + "\n"
		mu.Lock()
		defer mu.Unlock()
		_, _ = io.WriteString(w, line)
	}
}

// lineWriter turns a guest's WASI fd_write stream into log messages, one per line, at a fixed
// level: proxy-wasm-cpp-host logs stdout at info and stderr at error.
type lineWriter struct {
	log   func(LogLevel, string)
	level LogLevel
	buf   []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.log(w.level, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// flush emits a trailing partial line, e.g. the last words of a guest that exited.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.log(w.level, string(w.buf))
		w.buf = nil
	}
}
