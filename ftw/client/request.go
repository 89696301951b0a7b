// Package client sends FTW requests as raw bytes on a TCP (or TLS) connection and reads the
// response tolerantly.
//
// A net/http client cannot be used: the CRS suite deliberately sends malformed request lines
// ("\tGET", "HTTP\1.0", an empty version, HTTP/0.9) and whole requests given as bytes
// (encoded_request), which must reach the WAF exactly as written.
package client

import (
	"bytes"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Header is one request header, written as "Name: Value\r\n" without any normalisation.
type Header struct{ Name, Value string }

// Request is one FTW request. If Raw is non-nil it is sent as is and every other field is
// ignored.
type Request struct {
	Method, URI, Version string
	// Headers are sent in this order (ordered_headers), unless SortHeaders is set.
	Headers []Header
	// SortHeaders keeps the whole header block, autocompleted headers included, sorted by name:
	// go-ftw's `headers` is a map it writes sorted.
	SortHeaders bool
	Body        []byte
	// Autocomplete applies go-ftw's header autocompletion (see Bytes).
	Autocomplete bool
	Raw          []byte
}

// MapHeaders turns a `headers` map into a header list sorted by name (byte order), the order
// go-ftw writes them in; use it with SortHeaders.
func MapHeaders(m map[string]string) []Header {
	h := make([]Header, 0, len(m))
	for k, v := range m {
		h = append(h, Header{k, v})
	}
	slices.SortFunc(h, func(a, b Header) int { return strings.Compare(a.Name, b.Name) })
	return h
}

// methodsWithBody is go-ftw's pattern, kept with its unanchored alternation
// (`^POST|PUT|PATCH|DELETE$`) so Content-Length is added for exactly the same methods.
var methodsWithBody = regexp.MustCompile(`^POST|PUT|PATCH|DELETE$`)

const formURLEncoded = "application/x-www-form-urlencoded"

// Bytes renders the request as it goes on the wire: "METHOD URI VERSION\r\n", the headers, an
// empty line and the body. With Autocomplete, as go-ftw does:
//   - a body without Content-Type gets Content-Type: application/x-www-form-urlencoded, and a
//     form body is URL-encoded per key and value unless unescaping it would change it;
//   - Connection: close is added;
//   - Content-Length is added when there is a body or the method is POST/PUT/PATCH/DELETE.
//
// A Content-Type starting with "multipart/form-data;" has LF turned into CRLF in the body, with
// or without Autocomplete. Headers are looked up by exact name, and an empty value counts as
// absent, as in go-ftw's header map; added headers go after the given ones unless SortHeaders.
func (r Request) Bytes() []byte {
	if r.Raw != nil {
		return slices.Clone(r.Raw)
	}
	h := slices.Clone(r.Headers)
	body := r.Body
	if len(body) > 0 && r.Autocomplete {
		h = addHeader(h, "Content-Type", formURLEncoded)
		body = encodeForm(get(h, "Content-Type"), body)
	}
	if strings.HasPrefix(get(h, "Content-Type"), "multipart/form-data;") {
		body = bytes.ReplaceAll(body, []byte("\n"), []byte("\r\n"))
	}
	if r.Autocomplete {
		h = addHeader(h, "Connection", "close")
		if len(body) > 0 || methodsWithBody.MatchString(r.Method) {
			h = addHeader(h, "Content-Length", strconv.Itoa(len(body)))
		}
	}
	if r.SortHeaders {
		slices.SortStableFunc(h, func(a, b Header) int { return strings.Compare(a.Name, b.Name) })
	}
	var b bytes.Buffer
	b.Grow(len(r.Method) + len(r.URI) + len(r.Version) + 64*len(h) + len(body))
	b.WriteString(r.Method + " " + r.URI + " " + r.Version + "\r\n")
	for _, kv := range h {
		b.WriteString(kv.Name + ": " + kv.Value + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// get returns the first value of the exactly-named header, "" if absent.
func get(h []Header, name string) string {
	for _, kv := range h {
		if kv.Name == name {
			return kv.Value
		}
	}
	return ""
}

// addHeader sets name to value unless it already has a non-empty value; an empty value is
// replaced in place (go-ftw's map semantics).
func addHeader(h []Header, name, value string) []Header {
	for i, kv := range h {
		if kv.Name == name {
			if kv.Value == "" {
				h[i].Value = value
			}
			return h
		}
	}
	return append(h, Header{name, value})
}

// encodeForm URL-encodes each key and value of a form body, as go-ftw does: CRS tests write
// form parameters unencoded (`var=<script>`), and encoding the whole string would encode the
// '=' and '&' too. Data that unescaping would change is taken as already encoded and kept.
func encodeForm(contentType string, data []byte) []byte {
	if contentType != formURLEncoded {
		return data
	}
	s := string(data)
	if unescaped, err := url.QueryUnescape(s); err != nil || unescaped != s {
		return data
	}
	var out strings.Builder
	for rest := s; rest != ""; {
		token, tail, _ := strings.Cut(rest, "&")
		rest = tail
		if k, v, ok := strings.Cut(token, "="); ok {
			out.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(v))
		} else {
			out.WriteString(url.QueryEscape(token))
		}
		out.WriteByte('&')
	}
	return []byte(strings.TrimSuffix(out.String(), "&"))
}
