package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Header is one name/value pair of a header or trailer map, in the host's order.
type Header struct {
	Name  string
	Value string
}

// EncodeHeaders serialises pairs in the Proxy-Wasm map format: u32 count, count × (u32 name
// length, u32 value length), then each name and value followed by a NUL byte.
func EncodeHeaders(pairs []Header) []byte {
	size := 4 + 8*len(pairs)
	for _, p := range pairs {
		size += len(p.Name) + len(p.Value) + 2
	}
	buf := make([]byte, size)
	binary.LittleEndian.PutUint32(buf, uint32(len(pairs)))
	off := 4
	for _, p := range pairs {
		binary.LittleEndian.PutUint32(buf[off:], uint32(len(p.Name)))
		binary.LittleEndian.PutUint32(buf[off+4:], uint32(len(p.Value)))
		off += 8
	}
	for _, p := range pairs {
		off += copy(buf[off:], p.Name)
		buf[off] = 0
		off++
		off += copy(buf[off:], p.Value)
		buf[off] = 0
		off++
	}
	return buf
}

// ErrMalformedHeaders reports a header map whose lengths do not fit its buffer.
var ErrMalformedHeaders = errors.New("malformed header map")

// DecodeHeaders parses the Proxy-Wasm map format. An empty buffer is an empty map.
func DecodeHeaders(buf []byte) ([]Header, error) {
	if len(buf) == 0 {
		return nil, nil
	}
	if len(buf) < 4 {
		return nil, fmt.Errorf("%w: %d bytes, need at least 4", ErrMalformedHeaders, len(buf))
	}
	n := binary.LittleEndian.Uint32(buf)
	// Each pair takes at least 10 bytes (two lengths, two NULs): reject counts that cannot fit
	// before allocating, so a hostile count cannot exhaust memory.
	if uint64(n)*10 > uint64(len(buf)-4) {
		return nil, fmt.Errorf("%w: %d pairs cannot fit in %d bytes", ErrMalformedHeaders, n, len(buf))
	}
	pairs := make([]Header, n)
	lens := buf[4:]
	data := buf[4+8*int(n):]
	off := 0
	for i := range pairs {
		nl := int(binary.LittleEndian.Uint32(lens[8*i:]))
		vl := int(binary.LittleEndian.Uint32(lens[8*i+4:]))
		if nl < 0 || vl < 0 || off+nl+vl+2 > len(data) || off+nl+vl+2 < off {
			return nil, fmt.Errorf("%w: pair %d overruns the buffer", ErrMalformedHeaders, i)
		}
		pairs[i].Name = string(data[off : off+nl])
		off += nl + 1
		pairs[i].Value = string(data[off : off+vl])
		off += vl + 1
	}
	return pairs, nil
}
