package wasmhost

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// ErrPluginFailed marks errors from a trap or panic in the guest. The VM that raised it is
// discarded and rebuilt on next use; Envoy instead marks the VM failed until reconfigured.
var ErrPluginFailed = errors.New("wasmhost: plugin failed")

// rootContextID is the root (plugin) context of every VM; streams count up from it.
const rootContextID = 1

// maxRecentErrors bounds the error lines kept to explain a failure.
const maxRecentErrors = 20

type vmKey struct{}

// hostContext is the state host calls act on: the root context, or a stream's.
type hostContext struct {
	id     uint32
	props  map[string][]byte
	stream *Stream // nil for the root context
}

// exports are the guest callbacks, looked up once per instance. A missing callback acts as
// Envoy's default (Continue, or true).
type exports struct {
	contextCreate, vmStart, configure               api.Function
	requestHeaders, requestBody, requestTrailers    api.Function
	responseHeaders, responseBody, responseTrailers api.Function
	done, log, delete, tick, alloc                  api.Function
}

// vm is one instance of the module, used by one stream at a time (Envoy: one VM per worker).
type vm struct {
	plugin *Plugin
	ctx    context.Context // carries the vm to host functions

	// mu serialises everything that calls into the instance or reads what a call changes: its
	// start, its stream's events and Close, ticks (from a timer goroutine), the plugin's Close.
	// Envoy gets the same from running each VM on one worker thread's event loop, where a
	// timer fires between two callbacks, never during one.
	mu sync.Mutex

	mod    api.Module // nil before start and after a failure
	fn     exports
	out    *lineWriter
	errOut *lineWriter

	nextID  uint32
	root    *hostContext
	current *hostContext
	stream  *Stream

	tick         ticker
	recentErrors []string // error-level lines of the current call, to explain failures
}

// ticker is the tick timer of the VM's root context.
type ticker struct {
	period time.Duration // 0: no ticks
	timer  *time.Timer   // the armed tick, nil when none
	gen    uint64        // bumped by every change, so a timer already firing sees it is stale
}

func newVM(p *Plugin) *vm {
	v := &vm{plugin: p}
	v.ctx = context.WithValue(context.Background(), vmKey{}, v)
	return v
}

func vmFrom(ctx context.Context) *vm {
	v, _ := ctx.Value(vmKey{}).(*vm)
	return v
}

// log sends a message to the plugin's logger, dropping it below the configured level as
// Envoy does, and remembers error lines so a failure can say what the plugin reported.
func (v *vm) log(level LogLevel, msg string) {
	if level >= LogError {
		if len(v.recentErrors) == maxRecentErrors {
			v.recentErrors = v.recentErrors[1:]
		}
		v.recentErrors = append(v.recentErrors, msg)
	}
	if level < v.plugin.cfg.logLevel {
		return
	}
	v.plugin.cfg.logger(level, msg)
}

// start instantiates the module and runs Envoy's start sequence: _initialize, root context,
// proxy_on_vm_start, proxy_on_configure. The caller holds v.mu.
func (v *vm) start(ctx context.Context) error {
	m := v.plugin.module
	v.out = &lineWriter{log: v.log, level: LogInfo}
	v.errOut = &lineWriter{log: v.log, level: LogError}
	cfg := wazero.NewModuleConfig().
		WithName(""). // anonymous, so the compiled module can be instantiated once per VM
		WithStartFunctions().
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(v.out).WithStderr(v.errOut)
	for _, kv := range v.plugin.cfg.env {
		cfg = cfg.WithEnv(kv[0], kv[1])
	}
	mod, err := m.runtime.InstantiateModule(ctx, m.compiled, cfg)
	if err != nil {
		return fmt.Errorf("wasmhost: instantiate module: %w", err)
	}
	v.mod = mod
	v.fn = exports{
		contextCreate:    mod.ExportedFunction("proxy_on_context_create"),
		vmStart:          mod.ExportedFunction("proxy_on_vm_start"),
		configure:        mod.ExportedFunction("proxy_on_configure"),
		requestHeaders:   mod.ExportedFunction("proxy_on_request_headers"),
		requestBody:      mod.ExportedFunction("proxy_on_request_body"),
		requestTrailers:  mod.ExportedFunction("proxy_on_request_trailers"),
		responseHeaders:  mod.ExportedFunction("proxy_on_response_headers"),
		responseBody:     mod.ExportedFunction("proxy_on_response_body"),
		responseTrailers: mod.ExportedFunction("proxy_on_response_trailers"),
		done:             mod.ExportedFunction("proxy_on_done"),
		log:              mod.ExportedFunction("proxy_on_log"),
		delete:           mod.ExportedFunction("proxy_on_delete"),
		tick:             mod.ExportedFunction("proxy_on_tick"),
		alloc:            mod.ExportedFunction("proxy_on_memory_allocate"),
	}
	if v.fn.alloc == nil {
		v.fn.alloc = mod.ExportedFunction("malloc")
	}
	if v.fn.alloc == nil {
		v.discard()
		return errors.New("wasmhost: module exports neither proxy_on_memory_allocate nor malloc")
	}
	v.nextID = rootContextID
	v.root = &hostContext{id: rootContextID, props: map[string][]byte{}}
	v.current = v.root
	v.stream = nil
	v.stopTicks()

	// proxy-wasm-cpp-host calls _initialize on reactor modules before anything else.
	if init := mod.ExportedFunction("_initialize"); init != nil {
		if _, err := v.call("_initialize", init, v.root); err != nil {
			return err
		}
	}
	if _, err := v.call("proxy_on_context_create", v.fn.contextCreate, v.root, rootContextID, 0); err != nil {
		return err
	}
	cfg2 := v.plugin.cfg
	ok, err := v.callBool("proxy_on_vm_start", v.fn.vmStart, v.root, rootContextID, uint64(len(cfg2.vmConfig)))
	if err != nil {
		return err
	}
	if !ok {
		err := v.rejection("proxy_on_vm_start")
		v.discard()
		return err
	}
	ok, err = v.callBool("proxy_on_configure", v.fn.configure, v.root, rootContextID, uint64(len(cfg2.pluginConfig)))
	if err != nil {
		return err
	}
	if !ok {
		// Envoy rejects the configuration ("Wasm VM failed to configure").
		err := v.rejection("proxy_on_configure")
		v.discard()
		return err
	}
	return nil
}

func (v *vm) rejection(callback string) error {
	if len(v.recentErrors) == 0 {
		return fmt.Errorf("wasmhost: %s returned false (plugin logged no error)", callback)
	}
	return fmt.Errorf("wasmhost: %s returned false; plugin log:\n%s", callback, strings.Join(v.recentErrors, "\n"))
}

// alive reports whether the instance can take calls.
func (v *vm) alive() bool { return v.mod != nil }

// discard drops a broken instance, and its tick; the pool restarts the VM on next use.
func (v *vm) discard() {
	v.stopTicks()
	if v.out != nil {
		v.out.flush()
		v.errOut.flush()
	}
	if v.mod != nil {
		_ = v.mod.Close(context.Background())
		v.mod = nil
	}
	v.stream = nil
}

// call runs one guest export with c as the effective context. A missing export returns 0.
// Any trap, guest exit or host panic discards the instance and returns ErrPluginFailed.
func (v *vm) call(name string, fn api.Function, c *hostContext, params ...uint64) (res uint64, err error) {
	if v.mod == nil {
		return 0, fmt.Errorf("%w: %s: VM is not running", ErrPluginFailed, name)
	}
	if fn == nil {
		return 0, nil
	}
	v.current = c
	v.recentErrors = v.recentErrors[:0]
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("host panic: %v", r)
		}
		if err != nil {
			v.errOut.flush()
			err = fmt.Errorf("%w: %s (context %d): %w", ErrPluginFailed, name, c.id, err)
			if len(v.recentErrors) > 0 {
				err = fmt.Errorf("%w; plugin log:\n%s", err, strings.Join(v.recentErrors, "\n"))
			}
			v.plugin.cfg.logger(LogError, "wasmhost: VM failed, rebuilding on next use: "+err.Error())
			v.discard()
		}
	}()
	out, err := fn.Call(v.ctx, params...)
	if err != nil {
		return 0, err
	}
	if len(out) > 0 {
		res = out[0]
	}
	return res, nil
}

// setTickPeriod is proxy_set_tick_period_milliseconds. Envoy (Context::setTimerPeriod →
// Wasm::setTimerPeriod) keeps one timer per root context, keyed by the root of the effective
// context, so a stream context sets its plugin's tick; here every stream's root is the VM's
// one root context. A new period replaces the armed timer; 0 disables it. Each VM has its own
// timer, as each Envoy worker's Wasm has its own on its dispatcher. Called during a guest call,
// so with v.mu held.
func (v *vm) setTickPeriod(d time.Duration) {
	v.stopTicks()
	v.tick.period = d
	if d > 0 && !v.plugin.closed() {
		v.armTick()
	}
}

// stopTicks disarms the tick timer; a timer already firing sees the generation changed.
func (v *vm) stopTicks() {
	v.tick.gen++
	if v.tick.timer != nil {
		v.tick.timer.Stop()
		v.tick.timer = nil
	}
	v.tick.period = 0
}

func (v *vm) armTick() {
	gen := v.tick.gen
	v.tick.timer = time.AfterFunc(v.tick.period, func() { v.onTickTimer(gen) })
}

// onTickTimer runs proxy_on_tick on the root context, as Envoy's Wasm::tickHandler does: only
// while the timer is still the current one, the VM is alive (cpp-host skips a failed VM) and
// the module exports proxy_on_tick; then it re-arms the timer with the period in force, so the
// next tick comes one period after this one returned. A trap in proxy_on_tick is handled like
// any other: logged, the VM discarded (its tick with it) and rebuilt on next use, whose
// proxy_on_vm_start/proxy_on_configure set the period again.
func (v *vm) onTickTimer(gen uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if gen != v.tick.gen || !v.alive() || v.plugin.closed() || v.fn.tick == nil {
		return
	}
	v.tick.timer = nil
	// A stream in flight keeps its VM; its next event sets the effective context back to it.
	_, _ = v.call("proxy_on_tick", v.fn.tick, v.root, rootContextID)
	if gen == v.tick.gen && v.alive() && v.tick.period > 0 {
		v.armTick()
	}
}

// callBool is call for callbacks returning a bool; a missing export counts as true.
func (v *vm) callBool(name string, fn api.Function, c *hostContext, params ...uint64) (bool, error) {
	if fn == nil {
		if v.mod == nil {
			return false, fmt.Errorf("%w: %s: VM is not running", ErrPluginFailed, name)
		}
		return true, nil
	}
	r, err := v.call(name, fn, c, params...)
	return uint32(r) != 0, err
}

// contextByID resolves proxy_set_effective_context's argument.
func (v *vm) contextByID(id uint32) *hostContext {
	if v.root != nil && v.root.id == id {
		return v.root
	}
	if v.stream != nil && v.stream.hc.id == id {
		return &v.stream.hc
	}
	return nil
}

// copyOut hands data to the guest: memory from proxy_on_memory_allocate, pointer and size
// written at the out-parameters. Empty data is reported as (0, 0) without allocating.
func (v *vm) copyOut(mod api.Module, data []byte, ptrPtr, sizePtr uint32) status {
	var ptr uint32
	if len(data) > 0 {
		out, err := v.fn.alloc.Call(v.ctx, uint64(len(data)))
		if err != nil {
			// A trap in the allocator poisons the instance: fail the whole callback.
			panic(fmt.Errorf("proxy_on_memory_allocate(%d): %w", len(data), err))
		}
		ptr = uint32(out[0])
		if ptr == 0 {
			return statusInternalFailure
		}
		if !mod.Memory().Write(ptr, data) {
			return statusInvalidMemoryAccess
		}
	}
	return writeU32Pair(mod, ptrPtr, ptr, sizePtr, uint32(len(data)))
}

func writeU32Pair(mod api.Module, p1, v1, p2, v2 uint32) status {
	mem := mod.Memory()
	if !mem.WriteUint32Le(p1, v1) || !mem.WriteUint32Le(p2, v2) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

// read copies size bytes at ptr out of guest memory; the guest only guarantees them for the
// duration of the host call.
func read(mod api.Module, ptr, size uint32) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	b, ok := mod.Memory().Read(ptr, size)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), b...), true
}

func writeU64(mod api.Module, ptr uint32, val uint64) status {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], val)
	if !mod.Memory().Write(ptr, b[:]) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}
