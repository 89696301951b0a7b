package wasmbuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPruneKeepsNewestOfOnePackage(t *testing.T) {
	dir := t.TempDir()
	base := time.Now()
	for i, name := range []string{"meshwaf-a.wasm", "meshwaf-b.wasm", "meshwaf-c.wasm", "other-x.wasm"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, base, base.Add(time.Duration(i)*time.Minute))
	}
	prune(dir, "meshwaf-", 2)
	for name, want := range map[string]bool{"meshwaf-a.wasm": false, "meshwaf-b.wasm": true, "meshwaf-c.wasm": true, "other-x.wasm": true} {
		_, err := os.Stat(filepath.Join(dir, name))
		if got := err == nil; got != want {
			t.Errorf("%s kept = %t, want %t", name, got, want)
		}
	}
}

func TestCachePrefixNamesPackage(t *testing.T) {
	for pkg, want := range map[string]string{
		"github.com/meshwaf/meshwaf": "meshwaf-",
		".":                          "meshwaf-",
		"github.com/meshwaf/meshwaf/internal/abitest/testplugin": "github_com_meshwaf_meshwaf_internal_abitest_testplugin-",
	} {
		if got := cachePrefix(pkg); got != want {
			t.Errorf("cachePrefix(%q) = %q, want %q", pkg, got, want)
		}
	}
}

// The hash must change when an input of the build changes and stay put otherwise, or tests
// would run a stale module (or rebuild the 30 MB plugin after every unrelated edit).
func TestSourceHashTracksBuildInputs(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module github.com/meshwaf/meshwaf\n\ngo 1.26\n")
	write("main.go", "package main\n\nimport _ \"embed\"\n\n//go:embed rules/base.conf\nvar conf string\n\nfunc main() {}\n")
	write("rules/base.conf", "SecRuleEngine On\n")
	write("internal/wasmbuild/postlink.go", "package wasmbuild\n")
	hash := func() string {
		t.Helper()
		h, err := sourceHash(root, ".", Tags)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h1 := hash()

	write("main_test.go", "package main // tests are not in the module\n")
	write("ftw/other.go", "package other // not a dependency of the plugin\n")
	write("rules/unused.conf", "not embedded\n")
	if h := hash(); h != h1 {
		t.Fatalf("hash changed for files that do not go into the build")
	}
	for _, tc := range []struct{ name, file, body string }{
		{"embedded_file", "rules/base.conf", "SecRuleEngine DetectionOnly\n"},
		{"go_source", "main.go", "package main\n\nimport _ \"embed\"\n\n//go:embed rules/base.conf\nvar conf string\n\nfunc main() { println() }\n"},
		{"post_link_step", "internal/wasmbuild/postlink.go", "package wasmbuild\n\nconst x = 1\n"},
		{"go_sum", "go.sum", "example.com/m v1.0.0 h1:x\n"},
	} {
		before := hash()
		write(tc.file, tc.body)
		if hash() == before {
			t.Errorf("%s: hash unchanged after %s changed", tc.name, tc.file)
		}
	}
	if h, _ := sourceHash(root, ".", []string{"other"}); h == hash() {
		t.Fatalf("hash unchanged for other build tags")
	}
	before := hash()
	for _, env := range []string{"GOEXPERIMENT=nogreenteagc", "GOFLAGS=-gcflags=all=-B"} {
		k, v, _ := strings.Cut(env, "=")
		t.Setenv(k, v)
		if hash() == before {
			t.Errorf("hash unchanged with %s", env)
		}
		os.Unsetenv(k)
	}
}
