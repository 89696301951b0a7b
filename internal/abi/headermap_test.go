package abi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
)

func TestHeaderMapRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pairs []Header
	}{
		{"empty_map", nil},
		{"pseudo_and_regular_headers", []Header{{":method", "GET"}, {":path", "/a?b=c"}, {"x-a", "1"}}},
		{"empty_name_and_value", []Header{{"", ""}, {"x", ""}}},
		{"repeated_names_keep_order", []Header{{"cookie", "a=1"}, {"cookie", "b=2"}}},
		{"binary_value", []Header{{"x-bin", "a\x00b\xffc"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeHeaders(EncodeHeaders(tc.pairs))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.pairs) || (len(got) > 0 && !reflect.DeepEqual(got, tc.pairs)) {
				t.Fatalf("round trip: got %q, want %q", got, tc.pairs)
			}
		})
	}
}

// The wire layout is fixed by the ABI: check it byte for byte, not only round trips.
func TestEncodeHeadersLayout(t *testing.T) {
	got := EncodeHeaders([]Header{{"ab", "c"}, {"d", ""}})
	var want bytes.Buffer
	for _, v := range []uint32{2, 2, 1, 1, 0} {
		binary.Write(&want, binary.LittleEndian, v)
	}
	want.WriteString("ab\x00c\x00d\x00\x00")
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("layout:\n got %q\nwant %q", got, want.Bytes())
	}
}

func TestDecodeHeadersRejectsMalformed(t *testing.T) {
	valid := EncodeHeaders([]Header{{"name", "value"}})
	for _, tc := range []struct {
		name string
		buf  []byte
	}{
		{"shorter_than_count", []byte{1, 0}},
		{"count_larger_than_buffer", []byte{0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0}},
		{"truncated_data", valid[:len(valid)-3]},
		{"length_overflows", append(append([]byte{1, 0, 0, 0}, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0), 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := DecodeHeaders(tc.buf); !errors.Is(err, ErrMalformedHeaders) {
				t.Fatalf("DecodeHeaders(%q) error = %v, want ErrMalformedHeaders", tc.buf, err)
			}
		})
	}
}
