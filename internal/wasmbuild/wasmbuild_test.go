package wasmbuild

import (
	"os"
	"path/filepath"
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

// The hash must change when a source changes and stay put otherwise, or tests would run a stale
// module (or rebuild the 30 MB plugin every time).
func TestSourceHashTracksSources(t *testing.T) {
	root := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module github.com/meshwaf/meshwaf\n")
	write("main.go", "package main\n")
	write("rules/base.conf", "SecRuleEngine On\n")
	h1, err := sourceHash(root, ".", Tags)
	if err != nil {
		t.Fatal(err)
	}
	write("main_test.go", "package main // tests are not in the module\n")
	write("build/x.go", "ignored\n")
	if h2, _ := sourceHash(root, ".", Tags); h2 != h1 {
		t.Fatalf("hash changed for files outside the build")
	}
	write("rules/base.conf", "SecRuleEngine DetectionOnly\n")
	if h3, _ := sourceHash(root, ".", Tags); h3 == h1 {
		t.Fatalf("hash unchanged after an embedded rule file changed")
	}
	if h4, _ := sourceHash(root, ".", []string{"other"}); h4 == h1 {
		t.Fatalf("hash unchanged for other build tags")
	}
}
