package headermap

import (
	"errors"
	"reflect"
	"testing"
)

func kv(p [2]string) (string, string) { return p[0], p[1] }
func mk(n, v string) [2]string        { return [2]string{n, v} }

func TestDecodeRejectsMissingNUL(t *testing.T) {
	b := Encode([][2]string{{"ab", "c"}}, kv)
	b[len(b)-1] = 'x'
	if _, err := Decode(b, mk); !errors.Is(err, ErrMalformed) {
		t.Fatalf("value without its NUL: err = %v, want ErrMalformed", err)
	}
}

// FuzzDecode checks the decoder never panics on bytes from the other side of the ABI, and that
// what it accepts re-encodes to a map that decodes the same.
func FuzzDecode(f *testing.F) {
	f.Add(Encode([][2]string{{":authority", "example.com"}, {"x", "y"}}, kv))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, buf []byte) {
		pairs, err := Decode(buf, mk)
		if err != nil {
			return
		}
		again, err := Decode(Encode(pairs, kv), mk)
		if err != nil {
			t.Fatalf("re-decoding an accepted map: %v", err)
		}
		if len(again) != len(pairs) || (len(pairs) > 0 && !reflect.DeepEqual(again, pairs)) {
			t.Fatalf("re-decoded %q, want %q", again, pairs)
		}
	})
}
