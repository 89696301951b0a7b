package wasmhost

import (
	"bytes"
	"encoding/binary"
	"reflect"
	"testing"
)

func TestHeaderCodecRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    Headers
	}{
		{"empty_map", Headers{}},
		{"pseudo_and_regular", Headers{{":method", "GET"}, {":path", "/a?b"}, {"x-a", "1"}, {"x-a", "2"}}},
		{"empty_names_and_values", Headers{{"", ""}, {"k", ""}}},
		{"binary_value", Headers{{"k", "v\x01\xff"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeHeaders(encodeHeaders(tc.h))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.h) {
				t.Fatalf("round trip = %q, want %q", got, tc.h)
			}
		})
	}
}

func TestHeaderCodecWire(t *testing.T) {
	if got := encodeHeaders(Headers{}); !bytes.Equal(got, []byte{0, 0, 0, 0}) {
		t.Errorf("empty map = %v, want n=0", got)
	}
	want := []byte{1, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 'k', 0, 'v', 'w', 0}
	if got := encodeHeaders(Headers{{"k", "vw"}}); !bytes.Equal(got, want) {
		t.Errorf("encoding = %v, want %v", got, want)
	}
	if h, err := decodeHeaders(nil); err != nil || len(h) != 0 {
		t.Errorf("zero-size buffer = %v, %v; want empty map", h, err)
	}
}

func TestHeaderDecodeMalformed(t *testing.T) {
	huge := make([]byte, 4)
	binary.LittleEndian.PutUint32(huge, 1<<31)
	for name, b := range map[string][]byte{
		"short_count":        {1, 0},
		"count_past_end":     huge,
		"size_past_end":      {1, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 'k', 0, 0},
		"missing_terminator": {1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 'k', 'x', 0},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeHeaders(b); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestHeaderEdits(t *testing.T) {
	h := Headers{{"a", "1"}, {"b", "2"}, {"a", "3"}}
	if v, _ := h.Get("A"); v != "1,3" {
		t.Errorf("Get joins repeated names with ',' (Envoy): got %q", v)
	}
	h.replace("A", "x")
	if want := (Headers{{"a", "x"}, {"b", "2"}}); !reflect.DeepEqual(h, want) {
		t.Errorf("replace = %q, want %q", h, want)
	}
	h.replace("c", "new")
	h.add("B", "4")
	h.remove("b")
	if want := (Headers{{"a", "x"}, {"c", "new"}}); !reflect.DeepEqual(h, want) {
		t.Errorf("after add/remove = %q, want %q", h, want)
	}
	if n := h.byteSize(); n != 1+1+1+3 {
		t.Errorf("byteSize = %d", n)
	}
}

func TestBufferSemantics(t *testing.T) {
	body := []byte("hello world")
	for _, tc := range []struct {
		name        string
		start, size uint32
		data        string
		want        string
		st          status
	}{
		{"replace_all", 0, uint32(len(body)), "X", "X", statusOK},
		{"replace_all_oversized", 0, 1 << 31, "X", "X", statusOK},
		{"replace_prefix", 0, 5, "HELLO", "HELLO world", statusOK},
		{"prepend", 0, 0, ">", ">hello world", statusOK},
		{"append_at_end", uint32(len(body)), 0, "!", "hello world!", statusOK},
		{"append_past_end", 100, 0, "!", "hello world!", statusOK},
		{"middle_refused", 3, 2, "x", "hello world", statusBadArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, st := setRange(append([]byte(nil), body...), tc.start, tc.size, []byte(tc.data))
			if st != tc.st || string(got) != tc.want {
				t.Fatalf("setRange = %q, %d; want %q, %d", got, st, tc.want, tc.st)
			}
		})
	}
	for _, tc := range []struct {
		name       string
		start, max uint32
		want       string
		st         status
	}{
		{"all", 0, 1 << 31, "hello world", statusOK},
		{"window", 6, 3, "wor", statusOK},
		{"clamped", 6, 100, "world", statusOK},
		{"at_end", 11, 5, "", statusOK},
		{"past_end", 12, 1, "", statusBadArgument},
	} {
		t.Run("read_"+tc.name, func(t *testing.T) {
			got, st := readRange(body, tc.start, tc.max)
			if st != tc.st || string(got) != tc.want {
				t.Fatalf("readRange = %q, %d; want %q, %d", got, st, tc.want, tc.st)
			}
		})
	}
}

func TestProperties(t *testing.T) {
	info := StreamInfo{SourceAddress: "127.0.0.1:51234", DestinationAddress: "[::1]:8080"}
	req := Headers{{":path", "/x"}, {":authority", "h"}, {":method", "GET"}, {":scheme", "https"}, {"x-request-id", "id"}}
	resp := Headers{{":status", "403"}}
	le := func(v int64) string {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, uint64(v))
		return string(b)
	}
	for _, tc := range []struct {
		path string
		want string
		ok   bool
	}{
		{"source\x00address", "127.0.0.1:51234", true},
		{"source\x00port", le(51234), true},
		{"destination\x00address", "[::1]:8080", true},
		{"destination\x00port", le(8080), true},
		{"request\x00protocol", "HTTP/1.1", true},
		{"request\x00path", "/x", true},
		{"request\x00host", "h", true},
		{"request\x00method", "GET", true},
		{"request\x00scheme", "https", true},
		{"request\x00id", "id", true},
		{"response\x00code", le(403), true},
		{"request\x00path\x00", "/x", true}, // NUL-terminated path
		{"source.address", "", false},       // Envoy resolves segments, not dotted names
		{"no\x00such", "", false},
	} {
		got, ok := streamProperty(propertyKey([]byte(tc.path)), info, req, resp)
		if ok != tc.ok || ok && string(got) != tc.want {
			t.Errorf("%q = %q, %t; want %q, %t", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestMetricRegistry(t *testing.T) {
	r := newMetricRegistry()
	c, _ := r.define(Counter, "c")
	if again, _ := r.define(Counter, "c"); again != c {
		t.Errorf("redefining a name gives id %d, want %d", again, c)
	}
	if _, st := r.define(Gauge, "c"); st != statusBadArgument {
		t.Errorf("type clash: %d", st)
	}
	g, _ := r.define(Gauge, "g")
	h, _ := r.define(Histogram, "h")
	for _, tc := range []struct {
		name string
		st   status
	}{
		{"counter_up", r.increment(c, 2)},
		{"counter_down_refused", flip(r.increment(c, -1), statusBadArgument)},
		{"gauge_down", r.increment(g, -5)},
		{"gauge_record_sets", r.record(g, 7)},
		{"histogram_record", r.record(h, 10)},
		{"histogram_increment_refused", flip(r.increment(h, 1), statusBadArgument)},
		{"unknown_id", flip(r.increment(12345, 1), statusNotFound)},
	} {
		if tc.st != statusOK {
			t.Errorf("%s: status %d", tc.name, tc.st)
		}
	}
	if v, _ := r.value(c); v != 2 {
		t.Errorf("counter = %d", v)
	}
	if v, _ := r.value(g); v != 7 {
		t.Errorf("gauge = %d", v)
	}
	if _, st := r.value(h); st != statusBadArgument {
		t.Errorf("histogram value readable: %d", st)
	}
}

// flip maps an expected non-OK status to OK, so a table can list both kinds.
func flip(got, want status) status {
	if got == want {
		return statusOK
	}
	return got
}
