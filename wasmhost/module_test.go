package wasmhost_test

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmbuild"
	"github.com/meshwaf/meshwaf/internal/wasmtest"
	"github.com/meshwaf/meshwaf/wasmhost"
)

func TestCompileRejectsNonProxyWasm(t *testing.T) {
	empty := []byte("\x00asm\x01\x00\x00\x00") // a valid module with no exports
	_, err := wasmhost.Compile(context.Background(), empty, wasmhost.WithCacheDir(""))
	if err == nil || !strings.Contains(err.Error(), "proxy_abi_version_0_2_1") {
		t.Fatalf("want an error naming the missing ABI marker, got %v", err)
	}
}

// The environment of TestCompilationCacheChild, a second process run by
// TestCompilationCacheOnDisk: the cache directory and the module to compile against it.
const (
	cacheChildDirEnv  = "MESHWAF_TEST_CACHE_CHILD_DIR"
	cacheChildWasmEnv = "MESHWAF_TEST_CACHE_CHILD_WASM"
)

// A second process must reuse the compilation the first one left on disk. The test runs this
// test binary twice as a child process (TestCompilationCacheChild) against one empty cache
// directory: the first child must create cache entries; the second must compile and serve a
// stream while leaving every entry untouched. wazero's file cache writes an entry only on a
// miss (to a temporary file renamed into place), so a recompiled module would show up as a
// new inode and modification time.
func TestCompilationCacheOnDisk(t *testing.T) {
	testModule(t) // skips under -short
	path := wasmbuild.ForTest(t, wasmtest.TestPlugin)
	dir := t.TempDir()
	runChild := func(run string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCompilationCacheChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), cacheChildDirEnv+"="+dir, cacheChildWasmEnv+"="+path)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s child process: %v\n%s", run, err, out)
		}
		if !strings.Contains(string(out), "--- PASS: TestCompilationCacheChild") {
			t.Fatalf("%s child process did not run the compile:\n%s", run, out)
		}
		t.Logf("%s child process:\n%s", run, out)
	}

	runChild("first")
	first := cacheFiles(t, dir)
	if len(first) == 0 {
		t.Fatalf("cache dir %s holds no entry after the first process compiled", dir)
	}
	runChild("second")
	second := cacheFiles(t, dir)
	for name, fi := range first {
		fi2, ok := second[name]
		switch {
		case !ok:
			t.Errorf("cache entry %s gone after the second process", name)
		case !os.SameFile(fi, fi2) || !fi.ModTime().Equal(fi2.ModTime()) || fi.Size() != fi2.Size():
			t.Errorf("cache entry %s rewritten by the second process (%v %d bytes -> %v %d bytes): it compiled again",
				name, fi.ModTime(), fi.Size(), fi2.ModTime(), fi2.Size())
		}
	}
	for name := range second {
		if _, ok := first[name]; !ok {
			t.Errorf("second process added cache entry %s: it compiled again", name)
		}
	}
}

// cacheFiles maps each regular file under dir (wazero keeps its entries in a per-version
// subdirectory) to its FileInfo.
func cacheFiles(t *testing.T, dir string) map[string]os.FileInfo {
	t.Helper()
	out := map[string]os.FileInfo{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		out[rel] = fi
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCompilationCacheChild is the second process of TestCompilationCacheOnDisk: it compiles
// the module against the given cache directory and serves one stream with it.
func TestCompilationCacheChild(t *testing.T) {
	dir, path := os.Getenv(cacheChildDirEnv), os.Getenv(cacheChildWasmEnv)
	if dir == "" || path == "" {
		t.Skip("runs only as the child process of TestCompilationCacheOnDisk")
	}
	ctx := context.Background()
	m, err := wasmhost.CompileFile(ctx, path, wasmhost.WithCacheDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	p, err := m.NewPlugin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	s := newStream(t, p)
	if st := mustStep(t, "request headers")(s.RequestHeaders(reqHeaders(""), true)); st.Headers == nil {
		t.Fatalf("module compiled from the cache did not serve a request: %+v", st)
	}
	if err := s.Close(); err != nil { // before the deferred p.Close, which waits for its VM
		t.Fatal(err)
	}
}
