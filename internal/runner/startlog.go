package runner

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// startLog records the error lines the plugin logs while its VMs start, each once, so a
// refused configuration is reported by the plugin's own words (key, set, line, directive):
// every VM loads the same configuration and logs the same lines, and the host's error keeps
// only the last few lines of each VM's call.
type startLog struct {
	recording atomic.Bool
	mu        sync.Mutex
	lines     []string
}

// tee returns a logger that passes every line to next and, until stop, records the error
// lines.
func (sl *startLog) tee(next wasmhost.Logger) wasmhost.Logger {
	sl.recording.Store(true)
	return func(l wasmhost.LogLevel, msg string) {
		next(l, msg)
		if l < wasmhost.LogError || !sl.recording.Load() {
			return
		}
		sl.mu.Lock()
		defer sl.mu.Unlock()
		if !slices.Contains(sl.lines, msg) {
			sl.lines = append(sl.lines, msg)
		}
	}
}

// stop ends the recording: the plugin has started, or failed to.
func (sl *startLog) stop() { sl.recording.Store(false) }

// explain turns the host's error of a failed start into one that lists what the plugin
// logged; without such lines (a module that does not instantiate) the host's error is all
// there is.
func (sl *startLog) explain(config string, err error) error {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if len(sl.lines) == 0 {
		return fmt.Errorf("starting the plugin with %s: %w", config, err)
	}
	return &startError{config: config, lines: slices.Clone(sl.lines), err: err}
}

// startError is a plugin start that failed with error lines in the plugin's log.
type startError struct {
	config string
	lines  []string
	err    error // the host's, for errors.Is and errors.As
}

func (e *startError) Error() string {
	// The host's first line says which VMs failed in which call; the plugin log it announces
	// is the lines above.
	host, _, _ := strings.Cut(e.err.Error(), "\n")
	host = strings.TrimSuffix(host, "; plugin log:")
	return fmt.Sprintf("starting the plugin with %s failed; the plugin logged:\n  %s\n(host: %s)", e.config, strings.Join(e.lines, "\n  "), host)
}

func (e *startError) Unwrap() error { return e.err }
