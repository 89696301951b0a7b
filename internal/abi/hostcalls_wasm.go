//go:build wasip1

package abi

import "unsafe"

// Raw host calls of Proxy-Wasm ABI v0.2.1 (module "env"); see docs/abi.md for each signature.
// Only the typed wrappers in this package call them.

//go:wasmimport env proxy_log
func proxyLog(level LogLevel, msg unsafe.Pointer, msgSize uint32) Status

//go:wasmimport env proxy_get_log_level
func proxyGetLogLevel(retLevel unsafe.Pointer) Status

//go:wasmimport env proxy_get_current_time_nanoseconds
func proxyGetCurrentTimeNanoseconds(retTime unsafe.Pointer) Status

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriodMilliseconds(period uint32) Status

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(bt BufferType, start, maxSize uint32, retPtr, retSize unsafe.Pointer) Status

//go:wasmimport env proxy_set_buffer_bytes
func proxySetBufferBytes(bt BufferType, start, size uint32, data unsafe.Pointer, dataSize uint32) Status

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(mt MapType, retPtr, retSize unsafe.Pointer) Status

//go:wasmimport env proxy_set_header_map_pairs
func proxySetHeaderMapPairs(mt MapType, data unsafe.Pointer, size uint32) Status

//go:wasmimport env proxy_get_header_map_size
func proxyGetHeaderMapSize(mt MapType, retSize unsafe.Pointer) Status

//go:wasmimport env proxy_get_header_map_value
func proxyGetHeaderMapValue(mt MapType, key unsafe.Pointer, keySize uint32, retPtr, retSize unsafe.Pointer) Status

//go:wasmimport env proxy_add_header_map_value
func proxyAddHeaderMapValue(mt MapType, key unsafe.Pointer, keySize uint32, value unsafe.Pointer, valueSize uint32) Status

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(mt MapType, key unsafe.Pointer, keySize uint32, value unsafe.Pointer, valueSize uint32) Status

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(mt MapType, key unsafe.Pointer, keySize uint32) Status

//go:wasmimport env proxy_get_property
func proxyGetProperty(path unsafe.Pointer, pathSize uint32, retPtr, retSize unsafe.Pointer) Status

//go:wasmimport env proxy_set_property
func proxySetProperty(path unsafe.Pointer, pathSize uint32, value unsafe.Pointer, valueSize uint32) Status

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(statusCode uint32, details unsafe.Pointer, detailsSize uint32, body unsafe.Pointer, bodySize uint32, headers unsafe.Pointer, headersSize uint32, grpcStatus int32) Status

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(st StreamType) Status

//go:wasmimport env proxy_close_stream
func proxyCloseStream(st StreamType) Status

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(mt MetricType, name unsafe.Pointer, nameSize uint32, retID unsafe.Pointer) Status

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, offset int64) Status

//go:wasmimport env proxy_record_metric
func proxyRecordMetric(id uint32, value uint64) Status

//go:wasmimport env proxy_get_metric
func proxyGetMetric(id uint32, retValue unsafe.Pointer) Status

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(contextID uint32) Status

//go:wasmimport env proxy_done
func proxyDone() Status
