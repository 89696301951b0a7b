package harness

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// MinEnvoy is the oldest Envoy the harness runs against: 1.33, the first release whose Wasm
// host runs a standard-Go module (the README's requirements).
var MinEnvoy = Version{1, 33, 0}

// Version is an Envoy release number.
type Version struct{ Major, Minor, Patch int }

func (v Version) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

// Less reports whether v is older than w.
func (v Version) Less(w Version) bool {
	if v.Major != w.Major {
		return v.Major < w.Major
	}
	if v.Minor != w.Minor {
		return v.Minor < w.Minor
	}
	return v.Patch < w.Patch
}

// envoyVersionRe matches the release in `envoy --version`, which prints
// "envoy  version: <commit>/<release>/<Clean|Modified>/<RELEASE|DEBUG>/<ssl>", the release
// possibly suffixed ("1.34.0-dev").
var envoyVersionRe = regexp.MustCompile(`version: [0-9a-f]+/(\d+)\.(\d+)\.(\d+)[^/]*/`)

// ParseEnvoyVersion reads the release from the output of `envoy --version`.
func ParseEnvoyVersion(out string) (Version, error) {
	m := envoyVersionRe.FindStringSubmatch(out)
	if m == nil {
		return Version{}, fmt.Errorf("no release number in `envoy --version` output %q", out)
	}
	var v Version
	for i, p := range []*int{&v.Major, &v.Minor, &v.Patch} {
		n, err := strconv.Atoi(m[i+1])
		if err != nil {
			return Version{}, fmt.Errorf("`envoy --version`: %q: %w", m[0], err)
		}
		*p = n
	}
	return v, nil
}

// EnvoyVersion runs `bin --version` and returns the release, refusing one older than
// MinEnvoy: the plugin would fail to load there, and the failure would look like a WAF bug.
func EnvoyVersion(bin string) (Version, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return Version{}, fmt.Errorf("%s --version: %w\n%s", bin, err, out)
	}
	v, err := ParseEnvoyVersion(string(out))
	if err != nil {
		return Version{}, fmt.Errorf("%s: %w", bin, err)
	}
	if v.Less(MinEnvoy) {
		return v, fmt.Errorf("%s is Envoy %s; meshwaf needs Envoy >= %d.%d (see the README's requirements): put a newer envoy first on PATH",
			bin, v, MinEnvoy.Major, MinEnvoy.Minor)
	}
	return v, nil
}
