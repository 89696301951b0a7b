//go:build wasip1

package abi

import "runtime"

// The Proxy-Wasm callbacks. Each forwards to the dispatcher, which contains panics, so no Go
// panic crosses the ABI boundary.

//go:wasmexport proxy_abi_version_0_2_1
func proxyABIVersion() {}

//go:wasmexport proxy_on_memory_allocate
func proxyOnMemoryAllocate(size uint32) uint32 { return allocate(size) }

//go:wasmexport proxy_on_context_create
func proxyOnContextCreate(id, parent uint32) { vm.contextCreate(id, parent) }

//go:wasmexport proxy_on_vm_start
func proxyOnVMStart(rootID, size uint32) uint32 { return b2u(vm.vmStart(rootID, int(size))) }

//go:wasmexport proxy_on_configure
func proxyOnConfigure(rootID, size uint32) uint32 { return b2u(vm.configure(rootID, int(size))) }

//go:wasmexport proxy_on_request_headers
func proxyOnRequestHeaders(id, n, eos uint32) uint32 {
	return uint32(vm.http(id, "OnRequestHeaders", func(h HTTPContext) Action { return h.OnRequestHeaders(int(n), eos != 0) }))
}

//go:wasmexport proxy_on_request_body
func proxyOnRequestBody(id, size, eos uint32) uint32 {
	return uint32(vm.http(id, "OnRequestBody", func(h HTTPContext) Action { return h.OnRequestBody(int(size), eos != 0) }))
}

//go:wasmexport proxy_on_request_trailers
func proxyOnRequestTrailers(id, n uint32) uint32 {
	return uint32(vm.http(id, "OnRequestTrailers", func(h HTTPContext) Action { return h.OnRequestTrailers(int(n)) }))
}

//go:wasmexport proxy_on_response_headers
func proxyOnResponseHeaders(id, n, eos uint32) uint32 {
	return uint32(vm.http(id, "OnResponseHeaders", func(h HTTPContext) Action { return h.OnResponseHeaders(int(n), eos != 0) }))
}

//go:wasmexport proxy_on_response_body
func proxyOnResponseBody(id, size, eos uint32) uint32 {
	return uint32(vm.http(id, "OnResponseBody", func(h HTTPContext) Action { return h.OnResponseBody(int(size), eos != 0) }))
}

//go:wasmexport proxy_on_response_trailers
func proxyOnResponseTrailers(id, n uint32) uint32 {
	return uint32(vm.http(id, "OnResponseTrailers", func(h HTTPContext) Action { return h.OnResponseTrailers(int(n)) }))
}

//go:wasmexport proxy_on_done
func proxyOnDone(id uint32) uint32 { return b2u(vm.done(id)) }

//go:wasmexport proxy_on_log
func proxyOnLog(id uint32) { vm.streamDone(id) }

// proxy_on_delete is a context's last call, and where the guest yields to the Go scheduler.
// In a reactor, goroutines other than the one serving the host's call run only when that one
// yields; the GC's mark workers and the sweeper are such goroutines. Without a yield a GC
// cycle started during a large request may not finish, and each such request adds its
// garbage to a heap that Wasm never shrinks (wasmhost TestHeapReclaimedBetweenStreams).
//
//go:wasmexport proxy_on_delete
func proxyOnDelete(id uint32) {
	vm.delete(id)
	runtime.Gosched()
}

//go:wasmexport proxy_on_tick
func proxyOnTick(rootID uint32) { vm.root(rootID, "OnTick", PluginContext.OnTick) }

//go:wasmexport proxy_on_queue_ready
func proxyOnQueueReady(rootID, queueID uint32) {
	vm.root(rootID, "OnQueueReady", func(p PluginContext) { p.OnQueueReady(queueID) })
}

// proxy_on_http_call_response is exported so hosts that deliver one find it; meshwaf makes no
// outbound calls, so there is nothing to route it to.
//
//go:wasmexport proxy_on_http_call_response
func proxyOnHTTPCallResponse(rootID, token, numHeaders, bodySize, numTrailers uint32) {}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}
