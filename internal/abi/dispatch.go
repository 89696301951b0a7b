package abi

import (
	"fmt"
	"runtime/debug"
)

// The dispatcher turns the host's numbered contexts into the plugin's typed contexts. It is
// platform-neutral so it can be unit-tested natively; exports_wasm.go only forwards to it.

type stream struct {
	ctx    HTTPContext
	rootID uint32
	done   bool
	failed bool
}

type dispatcher struct {
	vm      VMContext
	plugins map[uint32]PluginContext
	streams map[uint32]*stream
	// current is the context of the callback in flight, used to name it in panic reports.
	current uint32
}

var vm = newDispatcher(nil)

func newDispatcher(v VMContext) *dispatcher {
	return &dispatcher{vm: v, plugins: map[uint32]PluginContext{}, streams: map[uint32]*stream{}}
}

// SetVMContext registers the plugin. Call it from an init function of package main: a reactor
// module runs init functions in _initialize, before the host's first callback.
func SetVMContext(v VMContext) { vm.vm = v }

// failClosed is how a panic inside an HTTP callback ends: the stream gets a 500 and is paused,
// so a request the plugin could not inspect never reaches the upstream.
func (d *dispatcher) failClosed(id uint32, where string, r any) Action {
	Logf(LogLevelCritical, "panic in %s of context %d: %v\n%s", where, id, r, debug.Stack())
	if s, ok := d.streams[id]; ok {
		s.failed = true
	}
	if err := SendLocalResponse(LocalResponse{
		StatusCode: 500,
		Details:    "meshwaf_plugin_panic",
		Headers:    []Header{{"content-type", "text/plain"}},
		Body:       []byte("internal error in the WAF plugin\n"),
		GRPCStatus: -1,
	}); err != nil {
		Logf(LogLevelCritical, "could not fail context %d closed: %v", id, err)
	}
	return ActionPause
}

func (d *dispatcher) contextCreate(id, parent uint32) {
	defer func() {
		if r := recover(); r != nil {
			Logf(LogLevelCritical, "panic creating context %d: %v\n%s", id, r, debug.Stack())
		}
	}()
	if parent == 0 {
		if d.vm == nil {
			Log(LogLevelCritical, "no VM context registered: the module's init must call abi.SetVMContext")
			return
		}
		d.plugins[id] = d.vm.NewPluginContext(id)
		return
	}
	p, ok := d.plugins[parent]
	if !ok || p == nil {
		Logf(LogLevelError, "context %d created for unknown root context %d", id, parent)
		return
	}
	if h := p.NewHTTPContext(id); h != nil {
		d.streams[id] = &stream{ctx: h, rootID: parent}
	}
}

func (d *dispatcher) vmStart(rootID uint32, size int) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			Logf(LogLevelCritical, "panic in OnVMStart: %v\n%s", r, debug.Stack())
			ok = false
		}
	}()
	if d.vm == nil {
		Log(LogLevelCritical, "no VM context registered: the module's init must call abi.SetVMContext")
		return false
	}
	return d.vm.OnVMStart(size)
}

func (d *dispatcher) configure(rootID uint32, size int) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			Logf(LogLevelCritical, "panic in OnPluginStart: %v\n%s", r, debug.Stack())
			ok = false
		}
	}()
	p, found := d.plugins[rootID]
	if !found || p == nil {
		Logf(LogLevelCritical, "configure for unknown root context %d", rootID)
		return false
	}
	return p.OnPluginStart(size)
}

// http runs one stream callback with panic containment.
func (d *dispatcher) http(id uint32, where string, f func(HTTPContext) Action) (a Action) {
	s, ok := d.streams[id]
	if !ok || s.failed {
		return ActionContinue
	}
	d.current = id
	defer func() {
		if r := recover(); r != nil {
			a = d.panicked(s, id, where, r)
		}
	}()
	return f(s.ctx)
}

// panicked ends a stream whose callback panicked: by the context's own PanicHandler when it
// has one, else (or when the handler panics too) by failClosed. The stream is marked failed
// first, so its later callbacks never reach state the panic may have left half-updated.
func (d *dispatcher) panicked(s *stream, id uint32, where string, r any) (a Action) {
	s.failed = true
	h, ok := s.ctx.(PanicHandler)
	if !ok {
		return d.failClosed(id, where, r)
	}
	stack := debug.Stack() // still the panicking goroutine's stack: deferred calls run on top of it
	defer func() {
		if r2 := recover(); r2 != nil {
			Logf(LogLevelCritical, "panic in the panic handler of context %d: %v", id, r2)
			a = d.failClosed(id, where, r)
		}
	}()
	return h.OnPanic(where, r, stack)
}

func (d *dispatcher) root(id uint32, where string, f func(PluginContext)) {
	p, ok := d.plugins[id]
	if !ok || p == nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			Logf(LogLevelCritical, "panic in %s of root context %d: %v\n%s", where, id, r, debug.Stack())
		}
	}()
	f(p)
}

// streamDone runs OnStreamDone once, from whichever of proxy_on_log and proxy_on_delete comes
// first: hosts call on_log for completed and reset streams, but the spec does not promise it.
func (d *dispatcher) streamDone(id uint32) {
	s, ok := d.streams[id]
	if !ok || s.done {
		return
	}
	s.done = true
	defer func() {
		if r := recover(); r != nil {
			Logf(LogLevelCritical, "panic in OnStreamDone of context %d: %v\n%s", id, r, debug.Stack())
		}
	}()
	s.ctx.OnStreamDone()
}

func (d *dispatcher) done(id uint32) (finished bool) {
	if p, ok := d.plugins[id]; ok && p != nil {
		finished = true
		d.root(id, "OnPluginDone", func(p PluginContext) { finished = p.OnPluginDone() })
		return finished
	}
	return true
}

func (d *dispatcher) delete(id uint32) {
	if _, ok := d.streams[id]; ok {
		d.streamDone(id)
		delete(d.streams, id)
		return
	}
	delete(d.plugins, id)
}

// String describes the dispatcher's live contexts, for leak checks in tests.
func (d *dispatcher) String() string {
	return fmt.Sprintf("%d plugin contexts, %d stream contexts", len(d.plugins), len(d.streams))
}
