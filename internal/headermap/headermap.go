// Package headermap is the Proxy-Wasm ABI's header-map wire format, shared by the guest
// (internal/abi) and the host (wasmhost) so both sides speak exactly the same bytes: u32
// count, count × (u32 name length, u32 value length), then count × (name, NUL, value, NUL),
// little-endian.
//
// Each side keeps its own pair type (the guest a struct, the host [2]string); the functions
// take accessors so neither pays for a conversion.
package headermap

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrMalformed reports bytes that are not a header map.
var ErrMalformed = errors.New("malformed header map")

// Encode serialises pairs; kv returns a pair's name and value.
func Encode[P any](pairs []P, kv func(P) (name, value string)) []byte {
	size := 4 + 8*len(pairs)
	for _, p := range pairs {
		n, v := kv(p)
		size += len(n) + len(v) + 2
	}
	buf := make([]byte, size)
	binary.LittleEndian.PutUint32(buf, uint32(len(pairs)))
	off := 4
	for _, p := range pairs {
		n, v := kv(p)
		binary.LittleEndian.PutUint32(buf[off:], uint32(len(n)))
		binary.LittleEndian.PutUint32(buf[off+4:], uint32(len(v)))
		off += 8
	}
	for _, p := range pairs {
		n, v := kv(p)
		off += copy(buf[off:], n)
		buf[off] = 0
		off++
		off += copy(buf[off:], v)
		buf[off] = 0
		off++
	}
	return buf
}

// Decode parses a header map; pair builds one pair. A zero-size buffer is an empty map
// (docs/abi.md allows both forms of an empty map).
func Decode[P any](buf []byte, pair func(name, value string) P) ([]P, error) {
	if len(buf) == 0 {
		return nil, nil
	}
	if len(buf) < 4 {
		return nil, fmt.Errorf("%w: %d bytes, need at least 4", ErrMalformed, len(buf))
	}
	n := binary.LittleEndian.Uint32(buf)
	// Each pair takes at least 10 bytes (two lengths, two NULs): reject counts that cannot fit
	// before allocating, so a hostile count cannot exhaust memory.
	if uint64(n)*10 > uint64(len(buf)-4) {
		return nil, fmt.Errorf("%w: %d pairs cannot fit in %d bytes", ErrMalformed, n, len(buf))
	}
	lens := buf[4:]
	data := buf[4+8*int(n):]
	out := make([]P, 0, n)
	off := 0
	for i := range int(n) {
		nl := int(binary.LittleEndian.Uint32(lens[8*i:]))
		vl := int(binary.LittleEndian.Uint32(lens[8*i+4:]))
		end := off + nl + vl + 2
		if nl < 0 || vl < 0 || end > len(data) || end < off {
			return nil, fmt.Errorf("%w: pair %d overruns the buffer", ErrMalformed, i)
		}
		if data[off+nl] != 0 || data[end-1] != 0 {
			return nil, fmt.Errorf("%w: pair %d is not NUL-terminated", ErrMalformed, i)
		}
		out = append(out, pair(string(data[off:off+nl]), string(data[off+nl+1:end-1])))
		off = end
	}
	return out, nil
}
