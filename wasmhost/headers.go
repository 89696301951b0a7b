package wasmhost

import (
	"strings"

	"github.com/meshwaf/meshwaf/internal/headermap"
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

// encodeHeaders serialises h in the ABI's header-map format (internal/headermap, shared with
// the guest).
func encodeHeaders(h Headers) []byte {
	return headermap.Encode(h, func(kv [2]string) (string, string) { return kv[0], kv[1] })
}

// decodeHeaders parses the ABI header-map format. A zero-size buffer is an empty map
// (docs/abi.md allows both forms).
func decodeHeaders(b []byte) (Headers, error) {
	h, err := headermap.Decode(b, func(name, value string) [2]string { return [2]string{name, value} })
	if err != nil {
		return nil, err
	}
	if h == nil {
		return Headers{}, nil
	}
	return h, nil
}
