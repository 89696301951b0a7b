package wasmhost

import (
	"encoding/binary"
	"net"
	"strconv"
	"strings"
)

// StreamInfo describes the connection a stream arrived on; it backs the properties Envoy
// derives from its StreamInfo (source.*, destination.*, request.protocol).
type StreamInfo struct {
	// SourceAddress and DestinationAddress are "ip:port" (Envoy's source.address format).
	SourceAddress      string
	DestinationAddress string
	// Protocol is "HTTP/1.0", "HTTP/1.1" or "HTTP/2"; empty means HTTP/1.1.
	Protocol string
}

// propertyKey turns a property path from the guest (segments joined by NUL, optionally
// NUL-terminated) into the dotted form used for lookups. Envoy resolves paths segment by
// segment, so a dotted name sent as one segment ("source.address") is not a property there;
// such keys keep a marker so they are not found here either.
func propertyKey(path []byte) string {
	if len(path) > 0 && path[len(path)-1] == 0 {
		path = path[:len(path)-1]
	}
	s := string(path)
	if strings.Contains(s, ".") {
		// Not a path Envoy would resolve; only set_property with the same bytes finds it.
		return "\x00raw\x00" + s
	}
	return strings.ReplaceAll(s, "\x00", ".")
}

// encodeInt is Envoy's encoding of integer properties: 8-byte little-endian int64.
func encodeInt(v int64) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, uint64(v))
	return b
}

// portOf returns the port of an "ip:port" address, or false when there is none.
func portOf(addr string) (int64, bool) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(p, 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// streamProperty resolves the properties Envoy derives from the stream; ok is false for
// paths it does not know, which the host reports as NotFound.
func streamProperty(key string, info StreamInfo, req, resp Headers) ([]byte, bool) {
	header := func(h Headers, name string) ([]byte, bool) {
		if h == nil {
			return nil, false
		}
		v, ok := h.Get(name)
		return []byte(v), ok
	}
	switch key {
	case "source.address":
		return []byte(info.SourceAddress), info.SourceAddress != ""
	case "source.port":
		p, ok := portOf(info.SourceAddress)
		return encodeInt(p), ok
	case "destination.address":
		return []byte(info.DestinationAddress), info.DestinationAddress != ""
	case "destination.port":
		p, ok := portOf(info.DestinationAddress)
		return encodeInt(p), ok
	case "request.protocol":
		if info.Protocol == "" {
			return []byte("HTTP/1.1"), true
		}
		return []byte(info.Protocol), true
	// Envoy reads these from the request headers, so a plugin's header edits show here.
	case "request.path":
		return header(req, ":path")
	case "request.host":
		return header(req, ":authority")
	case "request.method":
		return header(req, ":method")
	case "request.scheme":
		return header(req, ":scheme")
	case "request.id":
		return header(req, "x-request-id")
	case "request.useragent":
		return header(req, "user-agent")
	case "request.referer":
		return header(req, "referer")
	case "response.code":
		if resp == nil {
			return nil, false
		}
		v, ok := resp.Get(":status")
		if !ok {
			return nil, false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, false
		}
		return encodeInt(n), true
	}
	return nil, false
}
