package wasmhost

import "testing"

func TestParseEnv(t *testing.T) {
	for _, tc := range []struct{ in, key, value, err string }{
		{in: "GOGC=100", key: "GOGC", value: "100"},
		{in: "GOGC=", key: "GOGC", value: ""},
		{in: "A=b=c", key: "A", value: "b=c"},
		{in: "GOGC", err: `"GOGC": want KEY=VALUE`},
		{in: "=100", err: `"=100": want KEY=VALUE`},
	} {
		k, v, err := ParseEnv(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseEnv(%q) error = %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || k != tc.key || v != tc.value {
			t.Errorf("ParseEnv(%q) = %q, %q, %v; want %q, %q", tc.in, k, v, err, tc.key, tc.value)
		}
	}
}
