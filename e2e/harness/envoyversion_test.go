package harness

import (
	"strings"
	"testing"
)

func TestParseEnvoyVersion(t *testing.T) {
	cases := []struct {
		name, out string
		want      Version
		old       bool
		err       bool
	}{
		{name: "release_1_39", out: "\nenvoy  version: 0d0e1c7a7e1b7d0c6d5b1a8e3f2c4b5a6d7e8f90/1.39.1/Clean/RELEASE/BoringSSL\n\n", want: Version{1, 39, 1}},
		{name: "minimum_1_33", out: "envoy  version: 5c5f7c7b0d0e7d6c3b8a3d2b0e5b3f1c7a8e9d0f/1.33.0/Clean/RELEASE/BoringSSL", want: Version{1, 33, 0}},
		{name: "dev_build", out: "envoy  version: abcdef0/1.40.0-dev/Modified/DEBUG/BoringSSL-FIPS", want: Version{1, 40, 0}},
		{name: "too_old_1_32", out: "envoy  version: abcdef0/1.32.3/Clean/RELEASE/BoringSSL", want: Version{1, 32, 3}, old: true},
		{name: "no_version", out: "envoy: command not found", err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := ParseEnvoyVersion(c.out)
			if c.err {
				if err == nil {
					t.Fatalf("parsed %v, want an error", v)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v != c.want {
				t.Errorf("got %v, want %v", v, c.want)
			}
			if v.Less(MinEnvoy) != c.old {
				t.Errorf("%v.Less(%v) = %v, want %v", v, MinEnvoy, !c.old, c.old)
			}
			if strings.Count(v.String(), ".") != 2 {
				t.Errorf("String() = %q", v.String())
			}
		})
	}
}
