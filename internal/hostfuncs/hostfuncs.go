// Package hostfuncs lists the functions Envoy's Wasm host (proxy-wasm-cpp-host) gives a module,
// per host generation: the single source for the host profiles of wasmhost, for the build's
// post-link step (internal/wasmbuild) and for the test that checks the built module's imports.
// The sets come from cpp-host's sources; docs/older-envoy.md says which Envoy and Istio
// releases carry which.
package hostfuncs

import "slices"

// WASIModule is the import module of WASI preview 1.
const WASIModule = "wasi_snapshot_preview1"

// ProxyWasmModule is the import module of the Proxy-Wasm host functions.
const ProxyWasmModule = "env"

var wasi427 = []string{
	"args_get", "args_sizes_get", "clock_time_get", "environ_get", "environ_sizes_get",
	"fd_close", "fd_fdstat_get", "fd_fdstat_set_flags", "fd_prestat_dir_name", "fd_prestat_get",
	"fd_read", "fd_seek", "fd_write", "path_open", "poll_oneoff", "proc_exit", "random_get",
	"sched_yield",
}

var wasi533Extra = []string{
	"clock_res_get", "fd_advise", "fd_allocate", "fd_datasync", "fd_fdstat_set_rights",
	"fd_filestat_get", "fd_filestat_set_size", "fd_filestat_set_times", "fd_pread", "fd_pwrite",
	"fd_readdir", "fd_renumber", "fd_sync", "fd_tell", "path_create_directory",
	"path_filestat_get", "path_filestat_set_times", "path_link", "path_readlink",
	"path_remove_directory", "path_rename", "path_symlink", "path_unlink_file", "sock_accept",
	"sock_recv", "sock_send", "sock_shutdown",
}

var proxyWasm = []string{
	// ABI 0.2.1, every cpp-host generation.
	"proxy_log", "proxy_get_status", "proxy_set_property", "proxy_get_property",
	"proxy_send_local_response", "proxy_get_shared_data", "proxy_set_shared_data",
	"proxy_register_shared_queue", "proxy_resolve_shared_queue", "proxy_dequeue_shared_queue",
	"proxy_enqueue_shared_queue", "proxy_get_header_map_value", "proxy_add_header_map_value",
	"proxy_replace_header_map_value", "proxy_remove_header_map_value",
	"proxy_get_header_map_pairs", "proxy_set_header_map_pairs", "proxy_get_header_map_size",
	"proxy_get_buffer_status", "proxy_get_buffer_bytes", "proxy_set_buffer_bytes",
	"proxy_http_call", "proxy_grpc_call", "proxy_grpc_stream", "proxy_grpc_close",
	"proxy_grpc_cancel", "proxy_grpc_send", "proxy_set_tick_period_milliseconds",
	"proxy_get_current_time_nanoseconds", "proxy_define_metric", "proxy_increment_metric",
	"proxy_record_metric", "proxy_get_metric", "proxy_set_effective_context", "proxy_done",
	"proxy_call_foreign_function",
	// ABI-specific.
	"proxy_get_configuration", "proxy_continue_request", "proxy_continue_response",
	"proxy_clear_route_cache", "proxy_continue_stream", "proxy_close_stream",
	"proxy_get_log_level",
}

// WASI427 is the WASI set of cpp-host since PR #427 (Dec 2024): 18 functions; its
// poll_oneoff returns ENOSYS.
func WASI427() []string { return slices.Clone(wasi427) }

// WASI533 is the WASI set of cpp-host since PR #533 (Apr 2026): 45 functions; its
// poll_oneoff returns success with zero events.
func WASI533() []string { return slices.Concat(wasi427, wasi533Extra) }

// ProxyWasm is the Proxy-Wasm host functions (module "env") every cpp-host generation above
// provides.
func ProxyWasm() []string { return slices.Clone(proxyWasm) }
