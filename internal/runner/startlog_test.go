package runner

import (
	"errors"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// startLog keeps each error line of a start once, in order, passes every line on, stops
// recording once the plugin has started, and falls back to the host's error when the plugin
// logged no error.
func TestStartLog(t *testing.T) {
	hostErr := errors.New("VM 0: host error\nVM 1: host error")
	t.Run("error_lines_once_in_order_all_lines_passed_on", func(t *testing.T) {
		var sl startLog
		var passed []string
		log := sl.tee(func(_ wasmhost.LogLevel, msg string) { passed = append(passed, msg) })
		for _, vm := range []string{"VM 0", "VM 1"} {
			log(wasmhost.LogInfo, "loading "+vm)
			log(wasmhost.LogError, "first mistake")
			log(wasmhost.LogWarn, "a warning")
			log(wasmhost.LogCritical, "second mistake")
		}
		sl.stop()
		log(wasmhost.LogError, "a request's error, after the start")
		if len(passed) != 9 {
			t.Errorf("%d lines passed on, want all 9: %q", len(passed), passed)
		}
		err := sl.explain("c.json", hostErr)
		want := "starting the plugin with c.json failed; the plugin logged:\n  first mistake\n  second mistake\n(host: VM 0: host error)"
		if err.Error() != want {
			t.Errorf("error = %q, want %q", err, want)
		}
		if !errors.Is(err, hostErr) {
			t.Error("the host's error is not wrapped")
		}
	})
	t.Run("no_error_lines_gives_the_host_error", func(t *testing.T) {
		var sl startLog
		sl.tee(func(wasmhost.LogLevel, string) {})(wasmhost.LogWarn, "a warning")
		sl.stop()
		err := sl.explain("c.json", hostErr)
		if !errors.Is(err, hostErr) || !strings.HasPrefix(err.Error(), "starting the plugin with c.json: VM 0: host error") {
			t.Errorf("error = %q, want the host's after the configuration's name", err)
		}
	})
}
