package abi

import (
	"slices"
	"strings"
	"testing"
)

type recorder struct{ calls []string }

type recVM struct{ r *recorder }

func (v recVM) OnVMStart(n int) bool { v.r.calls = append(v.r.calls, "vm_start"); return n == 7 }
func (v recVM) NewPluginContext(id uint32) PluginContext {
	v.r.calls = append(v.r.calls, "new_plugin")
	return &recPlugin{r: v.r}
}

type recPlugin struct {
	DefaultPluginContext
	r *recorder
}

func (p *recPlugin) OnPluginStart(n int) bool {
	p.r.calls = append(p.r.calls, "plugin_start")
	if n == 99 {
		panic("bad configuration")
	}
	return true
}

func (p *recPlugin) NewHTTPContext(id uint32) HTTPContext {
	if id == 13 {
		return nil // the plugin lets this stream through untouched
	}
	return &recHTTP{r: p.r}
}

type recHTTP struct {
	DefaultHTTPContext
	r *recorder
}

func (h *recHTTP) OnRequestHeaders(n int, eos bool) Action {
	h.r.calls = append(h.r.calls, "request_headers")
	if n == 666 {
		panic("boom")
	}
	return ActionPause
}

func (h *recHTTP) OnStreamDone() { h.r.calls = append(h.r.calls, "stream_done") }

func TestDispatcherRoutesContexts(t *testing.T) {
	r := &recorder{}
	d := newDispatcher(recVM{r})
	d.contextCreate(1, 0)
	if !d.vmStart(1, 7) || !d.configure(1, 0) {
		t.Fatal("vm start or configure failed")
	}
	d.contextCreate(2, 1)
	if a := d.http(2, "OnRequestHeaders", func(h HTTPContext) Action { return h.OnRequestHeaders(3, false) }); a != ActionPause {
		t.Fatalf("action = %d, want pause", a)
	}
	d.streamDone(2) // proxy_on_log
	d.delete(2)     // proxy_on_delete must not run OnStreamDone again
	want := []string{"new_plugin", "vm_start", "plugin_start", "request_headers", "stream_done"}
	if !slices.Equal(r.calls, want) {
		t.Fatalf("calls = %v, want %v", r.calls, want)
	}
	if len(d.streams) != 0 {
		t.Fatalf("stream state leaked: %s", d)
	}
}

func TestDispatcherStreamDoneOnDeleteWithoutLog(t *testing.T) {
	r := &recorder{}
	d := newDispatcher(recVM{r})
	d.contextCreate(1, 0)
	d.contextCreate(2, 1)
	d.delete(2)
	if !slices.Contains(r.calls, "stream_done") {
		t.Fatalf("OnStreamDone not run for a stream deleted without proxy_on_log: %v", r.calls)
	}
}

func TestDispatcherContainsPanics(t *testing.T) {
	r := &recorder{}
	d := newDispatcher(recVM{r})
	d.contextCreate(1, 0)
	if d.configure(1, 99) {
		t.Fatal("configure that panicked reported success")
	}
	d.contextCreate(2, 1)
	if a := d.http(2, "OnRequestHeaders", func(h HTTPContext) Action { return h.OnRequestHeaders(666, false) }); a != ActionPause {
		t.Fatalf("panicking callback returned %d, want pause (fail closed)", a)
	}
	// A failed stream is not handed to the plugin again.
	before := len(r.calls)
	d.http(2, "OnRequestHeaders", func(h HTTPContext) Action { return h.OnRequestHeaders(1, false) })
	if len(r.calls) != before {
		t.Fatalf("failed stream reached the plugin again: %v", r.calls[before:])
	}
}

func TestDispatcherUnknownAndUntouchedStreamsContinue(t *testing.T) {
	r := &recorder{}
	d := newDispatcher(recVM{r})
	d.contextCreate(1, 0)
	d.contextCreate(13, 1) // plugin returned nil
	d.contextCreate(5, 42) // unknown root
	for _, id := range []uint32{13, 5, 77} {
		if a := d.http(id, "OnRequestHeaders", func(h HTTPContext) Action { return h.OnRequestHeaders(1, false) }); a != ActionContinue {
			t.Fatalf("context %d: action %d, want continue", id, a)
		}
	}
}

func TestDispatcherWithoutVMContextFailsStart(t *testing.T) {
	d := newDispatcher(nil)
	d.contextCreate(1, 0)
	if d.vmStart(1, 0) || d.configure(1, 0) {
		t.Fatal("a module without a registered VM context must fail to start")
	}
}

// handlingHTTP handles its own panics the way its action says.
type handlingHTTP struct {
	recHTTP
	action   Action
	panicsOn bool // the handler itself panics
	where    string
	value    any
	stack    []byte
}

func (h *handlingHTTP) OnPanic(where string, recovered any, stack []byte) Action {
	h.where, h.value, h.stack = where, recovered, stack
	if h.panicsOn {
		panic("handler boom")
	}
	return h.action
}

type handlingPlugin struct {
	DefaultPluginContext
	h *handlingHTTP
}

func (p handlingPlugin) NewHTTPContext(uint32) HTTPContext { return p.h }

type handlingVM struct{ h *handlingHTTP }

func (v handlingVM) OnVMStart(int) bool                    { return true }
func (v handlingVM) NewPluginContext(uint32) PluginContext { return handlingPlugin{h: v.h} }

func TestDispatcherPanicHandler(t *testing.T) {
	tests := []struct {
		name       string
		h          *handlingHTTP
		wantAction Action
	}{
		{"handler_lets_the_stream_continue", &handlingHTTP{action: ActionContinue}, ActionContinue},
		{"handler_pauses_after_its_own_reply", &handlingHTTP{action: ActionPause}, ActionPause},
		// A handler that panics too falls back to the built-in 500, which pauses.
		{"panicking_handler_fails_closed", &handlingHTTP{action: ActionContinue, panicsOn: true}, ActionPause},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.h.r = &recorder{}
			d := newDispatcher(handlingVM{tc.h})
			d.contextCreate(1, 0)
			d.contextCreate(2, 1)
			a := d.http(2, "OnRequestHeaders", func(h HTTPContext) Action { return h.OnRequestHeaders(666, false) })
			if a != tc.wantAction {
				t.Fatalf("action %d, want %d", a, tc.wantAction)
			}
			if tc.h.where != "OnRequestHeaders" || tc.h.value != "boom" {
				t.Fatalf("handler got (%q, %v), want (OnRequestHeaders, boom)", tc.h.where, tc.h.value)
			}
			if !strings.Contains(string(tc.h.stack), "OnRequestHeaders") {
				t.Errorf("stack does not show the panicking callback:\n%s", tc.h.stack)
			}
			// Later callbacks of the stream are not run, whatever the handler answered.
			before := len(tc.h.r.calls)
			if a := d.http(2, "OnRequestBody", func(h HTTPContext) Action { return h.OnRequestHeaders(1, true) }); a != ActionContinue {
				t.Fatalf("callback after the panic: action %d, want continue", a)
			}
			if len(tc.h.r.calls) != before {
				t.Fatalf("failed stream reached the plugin again: %v", tc.h.r.calls[before:])
			}
			d.delete(2)
			if !slices.Contains(tc.h.r.calls, "stream_done") {
				t.Errorf("OnStreamDone not run after a handled panic: %v", tc.h.r.calls)
			}
		})
	}
}
