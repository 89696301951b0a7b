// Package wasmhost is a Proxy-Wasm ABI v0.2.1 host on wazero that reproduces Envoy's behaviour,
// so the real meshwaf.wasm can be tested, benchmarked and run where Envoy cannot.
//
// A [Module] is compiled once (with wazero's on-disk compilation cache) and instantiated by
// each [Plugin] into one or more VMs, like Envoy runs one VM per worker thread. A [Stream]
// drives one HTTP exchange through a VM callback by callback; [Proxy] is an http.Handler that
// does the same for real traffic towards an upstream.
//
// Where the ABI leaves room, the host does what Envoy does (proxy-wasm-cpp-host and
// source/extensions/common/wasm); comments name the Envoy behaviour followed. docs/abi.md is the
// contract shared with the guest.
package wasmhost
