package abi

import "github.com/meshwaf/meshwaf/internal/headermap"

// Header is one name/value pair of a header or trailer map, in the host's order.
type Header struct {
	Name  string
	Value string
}

// EncodeHeaders serialises pairs in the Proxy-Wasm header-map format (internal/headermap).
func EncodeHeaders(pairs []Header) []byte {
	return headermap.Encode(pairs, func(h Header) (string, string) { return h.Name, h.Value })
}

// ErrMalformedHeaders reports a header map whose lengths do not fit its buffer.
var ErrMalformedHeaders = headermap.ErrMalformed

// DecodeHeaders parses the Proxy-Wasm header-map format. An empty buffer is an empty map.
func DecodeHeaders(buf []byte) ([]Header, error) {
	return headermap.Decode(buf, func(name, value string) Header { return Header{Name: name, Value: value} })
}
