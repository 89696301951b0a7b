package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/e2e/envoy"
	"github.com/meshwaf/meshwaf/e2e/internal/plugin"
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

// envoyClaimRe finds the Envoy minimum stated in prose: "Envoy >= 1.33", "Envoy (>= 1.33",
// "version ≥ 1.33", "older than 1.33".
var envoyClaimRe = regexp.MustCompile(`(?:(?:Envoy|version) \(?(?:>=|≥) ?|older than )(1\.\d+)`)

// Every Envoy minimum the e2e bootstraps, the compose file and the e2e docs state is MinEnvoy:
// raising MinEnvoy without them (or the reverse) fails here.
func TestEnvoyVersionClaims(t *testing.T) {
	root, err := plugin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d.%d", MinEnvoy.Major, MinEnvoy.Minor)
	files := []string{"e2e/docker-compose.yaml", "e2e/README.md", "docs/e2e.md"}
	for _, f := range envoy.Files {
		files = append(files, filepath.Join("e2e", "envoy", f))
	}
	claims := 0
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, m := range envoyClaimRe.FindAllStringSubmatch(line, -1) {
				claims++
				if m[1] != want {
					t.Errorf("%s:%d: %q, want %s (harness.MinEnvoy)", f, i+1, m[0], want)
				}
			}
		}
	}
	if claims == 0 {
		t.Error("no Envoy version claim found: the pattern no longer matches the docs")
	}
	if m := envoyClaimRe.FindStringSubmatch("Needs Envoy >= 1.32"); m == nil || m[1] == want {
		t.Errorf("the pattern does not catch a wrong claim: %q", m)
	}
}
