package wasmhost_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/meshwaf/meshwaf/internal/wasmtest"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// deadline bounds every wait for something the host must do; reaching it means the behaviour
// is missing (or deadlocked), never that the machine is slow.
const deadline = 20 * time.Second

// waitFor polls cond until it holds, failing the test at the deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up after %v waiting for %s", deadline, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func metric(p *wasmhost.Plugin, name string) int64 {
	m, _ := p.Metrics().Get(name)
	return m.Value
}

// tickLine matches the test plugin's log line for a tick: "tick N of root context R in vm ID".
var tickLine = regexp.MustCompile(`\[info\] tick (\d+) of root context (\d+) in vm ([0-9a-f]{8})`)

// ticksPerVM counts the tick lines logged by each VM (by the id each VM draws at start).
func ticksPerVM(rec *wasmtest.LogRecorder) map[string]int {
	out := map[string]int{}
	for _, l := range rec.Lines() {
		if m := tickLine.FindStringSubmatch(l); m != nil {
			out[m[3]]++
		}
	}
	return out
}

// The test plugin sets its tick period from its configuration ("tick=MS") and counts each
// proxy_on_tick in abitest.ticks. Envoy's semantics (Wasm::setTimerPeriod, tickHandler): one
// timer per root context on the VM's own event loop, re-armed after each tick, 0 disables.
func TestTick(t *testing.T) {
	tickConfig := func(cfg string) wasmhost.PluginOption { return wasmhost.WithPluginConfig([]byte(cfg)) }

	t.Run("ticks_every_period_on_the_root_context", func(t *testing.T) {
		p, rec := newTestPlugin(t, tickConfig("tick=1"))
		waitFor(t, "3 ticks", func() bool { return metric(p, "abitest.ticks") >= 3 })
		if _, ok := rec.Find("tick 1 of root context 1 in vm"); !ok {
			t.Errorf("no tick logged on root context 1: %q", rec.Lines())
		}
	})

	t.Run("period_zero_disables", func(t *testing.T) {
		// The plugin sets the period to 0 in its third tick.
		p, rec := newTestPlugin(t, tickConfig("tick=1 tick-stop=3"))
		waitFor(t, "the plugin to stop its ticks", func() bool { _, ok := rec.Find("ticks stopped"); return ok })
		time.Sleep(50 * time.Millisecond) // 50 periods in which no tick may come
		if n := metric(p, "abitest.ticks"); n != 3 {
			t.Fatalf("abitest.ticks = %d after the plugin set the period to 0 in tick 3", n)
		}
	})

	t.Run("no_ticks_without_a_period", func(t *testing.T) {
		_, rec := newTestPlugin(t, tickConfig("test-config"))
		time.Sleep(20 * time.Millisecond)
		for _, l := range rec.Lines() {
			if strings.Contains(l, "on_tick") || strings.Contains(l, "proxy_on_tick") {
				t.Fatalf("a plugin that set no tick period was ticked: %q", l)
			}
		}
	})

	t.Run("each_vm_ticks_its_own_root_context", func(t *testing.T) {
		// Envoy runs one VM per worker, each with its own timer for its root context.
		_, rec := newTestPlugin(t, wasmhost.WithVMs(3), tickConfig("tick=1"))
		waitFor(t, "every VM to tick twice", func() bool {
			per := ticksPerVM(rec)
			if len(per) < 3 {
				return false
			}
			for _, n := range per {
				if n < 2 {
					return false
				}
			}
			return true
		})
		if per := ticksPerVM(rec); len(per) != 3 {
			t.Fatalf("ticks from %d VMs, want 3: %v", len(per), per)
		}
	})

	t.Run("runs_between_the_events_of_an_open_stream", func(t *testing.T) {
		// A stream holds the only VM from NewStream to Close; Envoy's timer still fires between
		// two callbacks of a stream in flight.
		p, _ := newTestPlugin(t, tickConfig("tick=1"))
		s := newStream(t, p)
		mustStep(t, "headers")(s.RequestHeaders(reqHeaders(""), false))
		n := metric(p, "abitest.ticks")
		waitFor(t, "ticks while the stream is open", func() bool { return metric(p, "abitest.ticks") >= n+2 })
		st := mustStep(t, "body")(s.RequestBody([]byte("x"), true))
		if string(st.Body) != "x" || !st.EndOfStream {
			t.Fatalf("stream broken by the ticks in between: %+v", st)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("never_during_another_call", func(t *testing.T) {
		// Each "sleep" request spends several tick periods inside proxy_on_request_headers; a
		// tick that ran then would find the plugin's in-callback mark set.
		p, rec := newTestPlugin(t, tickConfig("tick=1"))
		for range 5 {
			s := newStream(t, p)
			st := mustStep(t, "headers")(s.RequestHeaders(reqHeaders("sleep"), true))
			if st.Headers == nil {
				t.Fatalf("sleep request not released: %+v", st)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "a tick", func() bool { return metric(p, "abitest.ticks") > 0 })
		if n := metric(p, "abitest.tick_overlaps"); n != 0 {
			t.Fatalf("%d ticks ran while a request callback was in the VM: %q", n, rec.Lines())
		}
	})

	t.Run("stops_when_the_plugin_closes", func(t *testing.T) {
		p, rec := newTestPlugin(t, wasmhost.WithVMs(2), tickConfig("tick=1"))
		waitFor(t, "ticks", func() bool { return metric(p, "abitest.ticks") >= 4 })
		if err := p.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		n, lines := metric(p, "abitest.ticks"), rec.Count("] tick ")
		time.Sleep(50 * time.Millisecond)
		if n2, lines2 := metric(p, "abitest.ticks"), rec.Count("] tick "); n2 != n || lines2 != lines {
			t.Fatalf("ticks went on after Close: %d -> %d (log lines %d -> %d)", n, n2, lines, lines2)
		}
	})

	t.Run("trap_in_on_tick_is_contained", func(t *testing.T) {
		// The plugin's first tick exits the module: the VM is discarded and logged like any
		// trap; the next stream gets a rebuilt VM, whose configure sets the tick again.
		p, rec := newTestPlugin(t, tickConfig("tick=1 tick-exit"))
		waitFor(t, "the trap to be logged", func() bool {
			l, ok := rec.Find("VM failed")
			return ok && strings.Contains(l, "proxy_on_tick")
		})
		time.Sleep(20 * time.Millisecond) // 20 periods in which the failed VM must stay silent
		if n := metric(p, "abitest.ticks"); n != 1 {
			t.Fatalf("abitest.ticks = %d, want 1: the failed VM must not tick again until rebuilt", n)
		}
		s := newStream(t, p)
		st := mustStep(t, "headers after the trap")(s.RequestHeaders(reqHeaders(""), true))
		if st.Headers == nil {
			t.Fatalf("request after the trap not served: %+v", st)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the rebuilt VM to tick", func() bool { return metric(p, "abitest.ticks") >= 3 })
	})
}
