package wasmhost

import (
	"context"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// hostFunc implements one env import; it returns the ABI status.
type hostFunc func(v *vm, mod api.Module, p []uint64) status

const (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// i32s returns n i32 parameter types.
func i32s(n int) []api.ValueType {
	out := make([]api.ValueType, n)
	for i := range out {
		out[i] = i32
	}
	return out
}

// instantiateEnv registers the Proxy-Wasm host functions (module "env") in r. They find
// their VM through the call's context, so one host module serves every instance.
func instantiateEnv(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder("env")
	export := func(name string, params []api.ValueType, f hostFunc) {
		b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
			v := vmFrom(ctx)
			if v == nil {
				stack[0] = uint64(statusInternalFailure)
				return
			}
			stack[0] = uint64(f(v, mod, stack))
		}), params, []api.ValueType{i32}).Export(name)
	}
	for _, h := range hostFuncs() {
		export(h.name, h.params, h.fn)
	}
	// The rest of the ABI 0.2.1 host functions Envoy provides, so modules importing them
	// link as they do in Envoy; this host has no shared data, queues, or outgoing calls.
	for name, n := range unimplemented {
		export(name, i32s(n), func(*vm, api.Module, []uint64) status { return statusUnimplemented })
	}
	_, err := b.Instantiate(ctx)
	return err
}

// unimplemented maps the host functions answered with Unimplemented to their parameter count.
var unimplemented = map[string]int{
	"proxy_get_status":            3,
	"proxy_get_shared_data":       5,
	"proxy_set_shared_data":       5,
	"proxy_register_shared_queue": 3,
	"proxy_resolve_shared_queue":  5,
	"proxy_dequeue_shared_queue":  3,
	"proxy_enqueue_shared_queue":  3,
	"proxy_http_call":             10,
	"proxy_grpc_call":             12,
	"proxy_grpc_stream":           9,
	"proxy_grpc_cancel":           1,
	"proxy_grpc_close":            1,
	"proxy_grpc_send":             4,
	"proxy_call_foreign_function": 6,
}

type hostFuncDef struct {
	name   string
	params []api.ValueType
	fn     hostFunc
}

func hostFuncs() []hostFuncDef {
	return []hostFuncDef{
		{"proxy_log", i32s(3), hostLog},
		{"proxy_get_log_level", i32s(1), func(v *vm, mod api.Module, p []uint64) status {
			if !mod.Memory().WriteUint32Le(uint32(p[0]), uint32(v.plugin.cfg.logLevel)) {
				return statusInvalidMemoryAccess
			}
			return statusOK
		}},
		{"proxy_get_current_time_nanoseconds", i32s(1), func(v *vm, mod api.Module, p []uint64) status {
			return writeU64(mod, uint32(p[0]), uint64(time.Now().UnixNano()))
		}},
		{"proxy_set_tick_period_milliseconds", i32s(1), func(v *vm, mod api.Module, p []uint64) status {
			// Envoy always answers Ok: the period (re)arms the root context's timer, 0 stops it.
			v.setTickPeriod(time.Duration(uint32(p[0])) * time.Millisecond)
			return statusOK
		}},
		{"proxy_get_buffer_bytes", i32s(5), hostGetBufferBytes},
		{"proxy_set_buffer_bytes", i32s(5), hostSetBufferBytes},
		{"proxy_get_buffer_status", i32s(3), hostGetBufferStatus},
		{"proxy_get_configuration", i32s(2), func(v *vm, mod api.Module, p []uint64) status {
			// ABI 0.1 form of reading the plugin configuration; Envoy still serves it.
			return v.copyOut(mod, v.plugin.cfg.pluginConfig, uint32(p[0]), uint32(p[1]))
		}},
		{"proxy_get_header_map_pairs", i32s(3), hostGetHeaderMapPairs},
		{"proxy_set_header_map_pairs", i32s(3), hostSetHeaderMapPairs},
		{"proxy_get_header_map_size", i32s(2), hostGetHeaderMapSize},
		{"proxy_get_header_map_value", i32s(5), hostGetHeaderMapValue},
		{"proxy_add_header_map_value", i32s(5), hostEditHeaderMap((*Headers).add)},
		{"proxy_replace_header_map_value", i32s(5), hostEditHeaderMap((*Headers).replace)},
		{"proxy_remove_header_map_value", i32s(3), hostRemoveHeaderMapValue},
		{"proxy_get_property", i32s(4), hostGetProperty},
		{"proxy_set_property", i32s(4), hostSetProperty},
		{"proxy_send_local_response", i32s(8), hostSendLocalResponse},
		{"proxy_continue_stream", i32s(1), func(v *vm, _ api.Module, p []uint64) status {
			return hostContinue(v, streamType(p[0]))
		}},
		{"proxy_close_stream", i32s(1), hostCloseStream},
		{"proxy_continue_request", nil, func(v *vm, _ api.Module, _ []uint64) status {
			return hostContinue(v, streamRequest)
		}},
		{"proxy_continue_response", nil, func(v *vm, _ api.Module, _ []uint64) status {
			return hostContinue(v, streamResponse)
		}},
		{"proxy_clear_route_cache", nil, func(*vm, api.Module, []uint64) status {
			// Envoy clears the route cache and answers Ok; this host has no route cache.
			return statusOK
		}},
		{"proxy_define_metric", i32s(4), hostDefineMetric},
		{"proxy_increment_metric", []api.ValueType{i32, i64}, func(v *vm, _ api.Module, p []uint64) status {
			return v.plugin.metrics.increment(uint32(p[0]), int64(p[1]))
		}},
		{"proxy_record_metric", []api.ValueType{i32, i64}, func(v *vm, _ api.Module, p []uint64) status {
			return v.plugin.metrics.record(uint32(p[0]), p[1])
		}},
		{"proxy_get_metric", i32s(2), func(v *vm, mod api.Module, p []uint64) status {
			val, st := v.plugin.metrics.value(uint32(p[0]))
			if st != statusOK {
				return st
			}
			return writeU64(mod, uint32(p[1]), val)
		}},
		{"proxy_set_effective_context", i32s(1), func(v *vm, _ api.Module, p []uint64) status {
			// Envoy answers BadArgument for a context id it does not know.
			c := v.contextByID(uint32(p[0]))
			if c == nil {
				return statusBadArgument
			}
			v.current = c
			return statusOK
		}},
		{"proxy_done", nil, func(*vm, api.Module, []uint64) status {
			// Only meaningful after proxy_on_done returned false; this host never waits for it.
			return statusOK
		}},
	}
}

func hostLog(v *vm, mod api.Module, p []uint64) status {
	msg, ok := read(mod, uint32(p[1]), uint32(p[2]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	level := LogLevel(p[0])
	if level > LogCritical {
		return statusBadArgument
	}
	v.log(level, string(msg))
	return statusOK
}

// body returns the buffer of a buffer type for the effective context, or nil when Envoy has
// none there (NotFound).
func (v *vm) buffer(t bufferType) *[]byte {
	switch t {
	case bufferVMConfiguration:
		return &v.plugin.cfg.vmConfig
	case bufferPluginConfiguration:
		return &v.plugin.cfg.pluginConfig
	case bufferHTTPRequestBody, bufferHTTPResponseBody:
		s := v.current.stream
		if s == nil {
			return nil
		}
		return &s.dirs[t].body
	}
	return nil
}

func hostGetBufferBytes(v *vm, mod api.Module, p []uint64) status {
	buf := v.buffer(bufferType(p[0]))
	if buf == nil {
		return statusNotFound
	}
	data, st := readRange(*buf, uint32(p[1]), uint32(p[2]))
	if st != statusOK {
		return st
	}
	return v.copyOut(mod, data, uint32(p[3]), uint32(p[4]))
}

func hostSetBufferBytes(v *vm, mod api.Module, p []uint64) status {
	t := bufferType(p[0])
	// Envoy lets a plugin change only the HTTP bodies, not its configuration.
	if t != bufferHTTPRequestBody && t != bufferHTTPResponseBody {
		return statusBadArgument
	}
	buf := v.buffer(t)
	if buf == nil {
		return statusNotFound
	}
	data, ok := read(mod, uint32(p[3]), uint32(p[4]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	out, st := setRange(*buf, uint32(p[1]), uint32(p[2]), data)
	if st == statusOK {
		*buf = out
	}
	return st
}

func hostGetBufferStatus(v *vm, mod api.Module, p []uint64) status {
	buf := v.buffer(bufferType(p[0]))
	if buf == nil {
		return statusNotFound
	}
	return writeU32Pair(mod, uint32(p[1]), uint32(len(*buf)), uint32(p[2]), 0)
}

// headerMap returns the map of a map type for the effective context, or nil before it exists
// (Envoy: NotFound, e.g. response headers during the request).
func (v *vm) headerMap(t mapType) *Headers {
	s := v.current.stream
	if s == nil || t > mapResponseTrailers {
		return nil
	}
	d := &s.dirs[t/2]
	if t%2 == 0 {
		if d.headers == nil {
			return nil
		}
		return &d.headers
	}
	if d.trailers == nil {
		return nil
	}
	return &d.trailers
}

func hostGetHeaderMapPairs(v *vm, mod api.Module, p []uint64) status {
	h := v.headerMap(mapType(p[0]))
	if h == nil {
		return statusNotFound
	}
	return v.copyOut(mod, encodeHeaders(*h), uint32(p[1]), uint32(p[2]))
}

func hostSetHeaderMapPairs(v *vm, mod api.Module, p []uint64) status {
	h := v.headerMap(mapType(p[0]))
	if h == nil {
		return statusNotFound
	}
	b, ok := read(mod, uint32(p[1]), uint32(p[2]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	pairs, err := decodeHeaders(b)
	if err != nil {
		return statusSerializationFailure
	}
	// Envoy removes every entry and adds the pairs with lower-cased names.
	*h = pairs.normalised()
	return statusOK
}

func hostGetHeaderMapSize(v *vm, mod api.Module, p []uint64) status {
	h := v.headerMap(mapType(p[0]))
	if h == nil {
		return statusNotFound
	}
	if !mod.Memory().WriteUint32Le(uint32(p[1]), uint32(h.byteSize())) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}

func hostGetHeaderMapValue(v *vm, mod api.Module, p []uint64) status {
	h := v.headerMap(mapType(p[0]))
	if h == nil {
		return statusNotFound
	}
	key, ok := read(mod, uint32(p[1]), uint32(p[2]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	val, found := h.Get(string(key))
	if !found {
		return statusNotFound
	}
	return v.copyOut(mod, []byte(val), uint32(p[3]), uint32(p[4]))
}

func hostEditHeaderMap(edit func(*Headers, string, string)) hostFunc {
	return func(v *vm, mod api.Module, p []uint64) status {
		h := v.headerMap(mapType(p[0]))
		if h == nil {
			return statusNotFound
		}
		key, ok1 := read(mod, uint32(p[1]), uint32(p[2]))
		val, ok2 := read(mod, uint32(p[3]), uint32(p[4]))
		if !ok1 || !ok2 {
			return statusInvalidMemoryAccess
		}
		edit(h, string(key), string(val))
		return statusOK
	}
}

func hostRemoveHeaderMapValue(v *vm, mod api.Module, p []uint64) status {
	h := v.headerMap(mapType(p[0]))
	if h == nil {
		return statusNotFound
	}
	key, ok := read(mod, uint32(p[1]), uint32(p[2]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	h.remove(string(key))
	return statusOK
}

// hostGetProperty looks a path up in: values set by the plugin on the effective context,
// then the stream's Envoy-derived properties, then the plugin's. Unknown paths are NotFound.
func hostGetProperty(v *vm, mod api.Module, p []uint64) status {
	path, ok := read(mod, uint32(p[0]), uint32(p[1]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	key := propertyKey(path)
	c := v.current
	if val, ok := c.props[key]; ok {
		return v.copyOut(mod, val, uint32(p[2]), uint32(p[3]))
	}
	if s := c.stream; s != nil {
		if val, ok := streamProperty(key, s.info, s.dirs[0].headers, s.dirs[1].headers); ok {
			return v.copyOut(mod, val, uint32(p[2]), uint32(p[3]))
		}
		if val, ok := v.root.props[key]; ok {
			return v.copyOut(mod, val, uint32(p[2]), uint32(p[3]))
		}
	}
	switch key {
	case "plugin_name":
		return v.copyOut(mod, []byte(v.plugin.cfg.name), uint32(p[2]), uint32(p[3]))
	case "plugin_root_id":
		return v.copyOut(mod, []byte(v.plugin.cfg.rootID), uint32(p[2]), uint32(p[3]))
	}
	return statusNotFound
}

// hostSetProperty stores a value on the effective context, as Envoy keeps it in that
// stream's (or the root's) filter state where proxy_get_property finds it again.
func hostSetProperty(v *vm, mod api.Module, p []uint64) status {
	path, ok1 := read(mod, uint32(p[0]), uint32(p[1]))
	val, ok2 := read(mod, uint32(p[2]), uint32(p[3]))
	if !ok1 || !ok2 {
		return statusInvalidMemoryAccess
	}
	if v.current.props == nil {
		v.current.props = map[string][]byte{}
	}
	v.current.props[propertyKey(path)] = val
	return statusOK
}

func hostSendLocalResponse(v *vm, mod api.Module, p []uint64) status {
	s := v.current.stream
	if s == nil {
		return statusNotFound
	}
	details, ok1 := read(mod, uint32(p[1]), uint32(p[2]))
	body, ok2 := read(mod, uint32(p[3]), uint32(p[4]))
	hdrs, ok3 := read(mod, uint32(p[5]), uint32(p[6]))
	if !ok1 || !ok2 || !ok3 {
		return statusInvalidMemoryAccess
	}
	h, err := decodeHeaders(hdrs)
	if err != nil {
		return statusSerializationFailure
	}
	s.sendLocalReply(&LocalReply{
		Status:     int(uint32(p[0])),
		Details:    string(details),
		Body:       body,
		Headers:    h.normalised(),
		GRPCStatus: int32(uint32(p[7])),
	})
	return statusOK
}

func hostContinue(v *vm, t streamType) status {
	s := v.current.stream
	if s == nil || t > streamResponse {
		return statusBadArgument
	}
	s.dirs[t].continueRequested = true
	return statusOK
}

// hostCloseStream resets the stream, as Envoy's closeStream does through resetStream().
func hostCloseStream(v *vm, _ api.Module, p []uint64) status {
	s := v.current.stream
	if s == nil || streamType(p[0]) > streamResponse {
		return statusBadArgument
	}
	s.resetRequested = true
	return statusOK
}

func hostDefineMetric(v *vm, mod api.Module, p []uint64) status {
	name, ok := read(mod, uint32(p[1]), uint32(p[2]))
	if !ok {
		return statusInvalidMemoryAccess
	}
	id, st := v.plugin.metrics.define(MetricType(p[0]), string(name))
	if st != statusOK {
		return st
	}
	if !mod.Memory().WriteUint32Le(uint32(p[3]), id) {
		return statusInvalidMemoryAccess
	}
	return statusOK
}
