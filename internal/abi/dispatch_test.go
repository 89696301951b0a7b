package abi

import (
	"slices"
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
