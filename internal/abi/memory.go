package abi

import (
	"fmt"
	"unsafe"
)

// Memory the host hands the guest arrives through proxy_on_memory_allocate: the host asks for a
// block, copies into it and reports its address through out-parameters. Go's GC does not move
// heap objects, but it would free a block nothing references, so each block stays in pending
// until the guest code that made the host call has taken it.
var pending = map[uint32][]byte{}

// ret holds the out-parameters of the host call in flight. It is a package variable on
// purpose: the host writes to it while the guest may run proxy_on_memory_allocate, which can
// grow (and so move) the goroutine stack; a global never moves. Wasm guests are
// single-threaded, so one is enough.
var ret struct {
	ptr  uint32
	size uint32
	_    [8]byte // room for 64-bit results (time, metric values)
}

// pinned keeps the guest data of the host call in flight on the heap and reachable: assigning
// to a global makes the compiler heap-allocate it, so a stack move cannot invalidate the
// pointer the host is reading.
var pinned []any

func allocate(size uint32) uint32 {
	if size == 0 {
		size = 1
	}
	b := make([]byte, size)
	addr := uint32(uintptr(unsafe.Pointer(&b[0])))
	pending[addr] = b
	return addr
}

// takeReturned returns the block the host reported in ret and forgets every other pending
// block of the call, so none leaks when a host allocates but then fails.
func takeReturned() ([]byte, error) {
	ptr, size := ret.ptr, ret.size
	ret.ptr, ret.size = 0, 0
	defer clear(pending)
	if size == 0 {
		return nil, nil
	}
	b, ok := pending[ptr]
	if !ok || int(size) > len(b) {
		return nil, fmt.Errorf("proxy-wasm: host returned %d bytes at %#x, not a block from proxy_on_memory_allocate", size, ptr)
	}
	return b[:size:size], nil
}

func retPtr() unsafe.Pointer  { return unsafe.Pointer(&ret.ptr) }
func retSize() unsafe.Pointer { return unsafe.Pointer(&ret.size) }

// retU64 reads the 8-byte result a host wrote at retPtr (time, metric values).
func retU64() uint64 {
	return *(*uint64)(unsafe.Pointer(&ret.ptr))
}

func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	pinned = append(pinned, b)
	return unsafe.Pointer(&b[0])
}

func stringPtr(s string) unsafe.Pointer {
	if len(s) == 0 {
		return nil
	}
	pinned = append(pinned, s)
	return unsafe.Pointer(unsafe.StringData(s))
}

func unpin() {
	clear(pinned)
	pinned = pinned[:0]
}
