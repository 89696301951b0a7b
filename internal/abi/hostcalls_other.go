//go:build !wasip1

package abi

import "unsafe"

// Outside Wasm there is no host: every call reports Unimplemented, so the package still
// compiles natively for go vet and for unit tests of its pure parts.

func proxyLog(LogLevel, unsafe.Pointer, uint32) Status     { return StatusUnimplemented }
func proxyGetLogLevel(unsafe.Pointer) Status               { return StatusUnimplemented }
func proxyGetCurrentTimeNanoseconds(unsafe.Pointer) Status { return StatusUnimplemented }
func proxySetTickPeriodMilliseconds(uint32) Status         { return StatusUnimplemented }
func proxyGetHeaderMapPairs(MapType, unsafe.Pointer, unsafe.Pointer) Status {
	return StatusUnimplemented
}
func proxySetHeaderMapPairs(MapType, unsafe.Pointer, uint32) Status    { return StatusUnimplemented }
func proxyGetHeaderMapSize(MapType, unsafe.Pointer) Status             { return StatusUnimplemented }
func proxyRemoveHeaderMapValue(MapType, unsafe.Pointer, uint32) Status { return StatusUnimplemented }
func proxyContinueStream(StreamType) Status                            { return StatusUnimplemented }
func proxyCloseStream(StreamType) Status                               { return StatusUnimplemented }
func proxyIncrementMetric(uint32, int64) Status                        { return StatusUnimplemented }
func proxyRecordMetric(uint32, uint64) Status                          { return StatusUnimplemented }
func proxyGetMetric(uint32, unsafe.Pointer) Status                     { return StatusUnimplemented }
func proxySetEffectiveContext(uint32) Status                           { return StatusUnimplemented }
func proxyDone() Status                                                { return StatusUnimplemented }

func proxyGetBufferBytes(BufferType, uint32, uint32, unsafe.Pointer, unsafe.Pointer) Status {
	return StatusUnimplemented
}

func proxySetBufferBytes(BufferType, uint32, uint32, unsafe.Pointer, uint32) Status {
	return StatusUnimplemented
}

func proxyGetHeaderMapValue(MapType, unsafe.Pointer, uint32, unsafe.Pointer, unsafe.Pointer) Status {
	return StatusUnimplemented
}

func proxyAddHeaderMapValue(MapType, unsafe.Pointer, uint32, unsafe.Pointer, uint32) Status {
	return StatusUnimplemented
}

func proxyReplaceHeaderMapValue(MapType, unsafe.Pointer, uint32, unsafe.Pointer, uint32) Status {
	return StatusUnimplemented
}

func proxyGetProperty(unsafe.Pointer, uint32, unsafe.Pointer, unsafe.Pointer) Status {
	return StatusUnimplemented
}

func proxySetProperty(unsafe.Pointer, uint32, unsafe.Pointer, uint32) Status {
	return StatusUnimplemented
}

func proxySendLocalResponse(uint32, unsafe.Pointer, uint32, unsafe.Pointer, uint32, unsafe.Pointer, uint32, int32) Status {
	return StatusUnimplemented
}

func proxyDefineMetric(MetricType, unsafe.Pointer, uint32, unsafe.Pointer) Status {
	return StatusUnimplemented
}
