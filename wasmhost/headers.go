package wasmhost

import (
	"encoding/binary"
	"errors"
	"strings"
)

// Headers is an ordered HTTP header (or trailer) map as Envoy hands it to a plugin: lower-case
// names, pseudo-headers (":method", ":path", ":authority", ":scheme", ":status") as ordinary
// entries, a name may repeat.
type Headers [][2]string

// Get returns the values of name joined with ",", as proxy_get_header_map_value does in Envoy.
func (h Headers) Get(name string) (string, bool) {
	name = strings.ToLower(name)
	var out string
	found := false
	for _, kv := range h {
		if kv[0] != name {
			continue
		}
		if found {
			out += "," + kv[1]
		} else {
			out = kv[1]
			found = true
		}
	}
	return out, found
}

// clone copies h so that later edits by the plugin never alias the caller's slice.
func (h Headers) clone() Headers {
	if h == nil {
		return nil
	}
	out := make(Headers, len(h))
	copy(out, h)
	return out
}

// normalised lower-cases every name, as Envoy's header maps (LowerCaseString) do.
func (h Headers) normalised() Headers {
	out := make(Headers, len(h))
	for i, kv := range h {
		out[i] = [2]string{strings.ToLower(kv[0]), kv[1]}
	}
	return out
}

func (h *Headers) add(name, value string) {
	*h = append(*h, [2]string{strings.ToLower(name), value})
}

// replace sets the first entry of name to value and drops the others, adding the entry if
// absent (Envoy's HeaderMap::setCopy).
func (h *Headers) replace(name, value string) {
	name = strings.ToLower(name)
	out := (*h)[:0]
	done := false
	for _, kv := range *h {
		if kv[0] == name {
			if done {
				continue
			}
			kv[1] = value
			done = true
		}
		out = append(out, kv)
	}
	if !done {
		out = append(out, [2]string{name, value})
	}
	*h = out
}

func (h *Headers) remove(name string) {
	name = strings.ToLower(name)
	out := (*h)[:0]
	for _, kv := range *h {
		if kv[0] != name {
			out = append(out, kv)
		}
	}
	*h = out
}

// byteSize is what Envoy's proxy_get_header_map_size reports: HeaderMap::byteSize(), the sum
// of name and value lengths (not the number of entries).
func (h Headers) byteSize() int {
	n := 0
	for _, kv := range h {
		n += len(kv[0]) + len(kv[1])
	}
	return n
}

// encodeHeaders serialises h in the ABI's header-map format: u32 count, count×(u32 name
// length, u32 value length), then count×(name, NUL, value, NUL).
func encodeHeaders(h Headers) []byte {
	size := 4
	for _, kv := range h {
		size += 8 + len(kv[0]) + len(kv[1]) + 2
	}
	buf := make([]byte, size)
	binary.LittleEndian.PutUint32(buf, uint32(len(h)))
	off := 4
	for _, kv := range h {
		binary.LittleEndian.PutUint32(buf[off:], uint32(len(kv[0])))
		binary.LittleEndian.PutUint32(buf[off+4:], uint32(len(kv[1])))
		off += 8
	}
	for _, kv := range h {
		off += copy(buf[off:], kv[0])
		buf[off] = 0
		off++
		off += copy(buf[off:], kv[1])
		buf[off] = 0
		off++
	}
	return buf
}

var errBadHeaderMap = errors.New("malformed header map")

// decodeHeaders parses the ABI header-map format. A zero-size buffer is an empty map
// (docs/abi.md allows both forms).
func decodeHeaders(b []byte) (Headers, error) {
	if len(b) == 0 {
		return Headers{}, nil
	}
	if len(b) < 4 {
		return nil, errBadHeaderMap
	}
	n := binary.LittleEndian.Uint32(b)
	// Each entry needs at least 8 size bytes and 2 NULs: bound n before allocating.
	if uint64(n)*10 > uint64(len(b)-4) {
		return nil, errBadHeaderMap
	}
	sizes := b[4:]
	data := b[4+8*int(n):]
	out := make(Headers, 0, n)
	off := 0
	for i := 0; i < int(n); i++ {
		kl := int(binary.LittleEndian.Uint32(sizes[8*i:]))
		vl := int(binary.LittleEndian.Uint32(sizes[8*i+4:]))
		if kl < 0 || vl < 0 || off+kl+vl+2 > len(data) || off+kl+vl+2 < off {
			return nil, errBadHeaderMap
		}
		k := string(data[off : off+kl])
		if data[off+kl] != 0 {
			return nil, errBadHeaderMap
		}
		off += kl + 1
		v := string(data[off : off+vl])
		if data[off+vl] != 0 {
			return nil, errBadHeaderMap
		}
		off += vl + 1
		out = append(out, [2]string{k, v})
	}
	return out, nil
}
