// Package wasmbuild compiles a main package of this module into a Proxy-Wasm reactor module,
// once per source state: the result is cached under build/cache by a hash of everything that
// goes into it, so every test package of one `go test ./...` run (and the next run) shares one
// compile of the ~30 MB plugin.
package wasmbuild

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"

	"github.com/meshwaf/meshwaf/internal/rxmatch"
)

// Tags are the build tags every meshwaf module is built with (see docs/build.md for why).
var Tags = []string{"no_fs_access", "coraza.disabled_operators.validateSchema", AnalysesTag}

// AnalysesTag embeds the CRS expressions' analyses, generated before each build that has it
// (internal/rxmatch, known.go).
const AnalysesTag = "meshwaf_crs_analyses"

// Options say what to build.
type Options struct {
	// Package is the import path or ./-relative directory of a main package in this module.
	Package string
	// Output is where to write the module; empty means build/cache/<hash>.wasm.
	Output string
	// Tags replace the default Tags when non-nil.
	Tags []string
}

// Build compiles opts.Package for wasip1 as a reactor, applies the post-link step that makes
// it load on every Envoy since 1.33 (postLink), and returns the module's path. The build is
// skipped when a module built from identical inputs exists.
func Build(opts Options) (string, error) {
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	tags := opts.Tags
	if tags == nil {
		tags = Tags
	}
	if slices.Contains(tags, AnalysesTag) {
		if err := writeAnalyses(root); err != nil {
			return "", fmt.Errorf("generating %s: %w", rxmatch.AnalysesFile, err)
		}
	}
	sum, err := sourceHash(root, opts.Package, tags)
	if err != nil {
		return "", err
	}
	cacheDir := filepath.Join(root, "build", "cache")
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	prefix := cachePrefix(opts.Package)
	cached := filepath.Join(cacheDir, prefix+sum+".wasm")

	// Several test binaries start at once under `go test ./...`: a lock makes one of them
	// build while the others wait for its result.
	unlock, err := lockFile(filepath.Join(cacheDir, prefix+sum+".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()

	if _, err := os.Stat(cached); err != nil {
		tmp := cached + ".tmp"
		args := []string{"build", "-buildmode=c-shared", "-trimpath", "-o", tmp}
		if len(tags) > 0 {
			args = append(args, "-tags", strings.Join(tags, ","))
		}
		args = append(args, opts.Package)
		cmd := exec.Command(goBinary(), args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		if err := postLinkFile(tmp); err != nil {
			os.Remove(tmp)
			return "", fmt.Errorf("post-link step on %s: %w", opts.Package, err)
		}
		if err := os.Rename(tmp, cached); err != nil {
			return "", err
		}
		prune(cacheDir, prefix, keepBuilds)
	}
	if opts.Output == "" {
		return cached, nil
	}
	if err := copyFile(cached, opts.Output); err != nil {
		return "", err
	}
	return opts.Output, nil
}

// WriteGenerated writes the generated files a build with Tags embeds, for tools that load the
// packages with those tags without building (go vet).
func WriteGenerated() error {
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	return writeAnalyses(root)
}

// writeAnalyses writes internal/rxmatch's analyses of the embedded CRS, unless the file
// already holds them: builds started together (test binaries) write the same bytes, each
// through a rename, and an unchanged file keeps the build cache's hash.
func writeAnalyses(root string) error {
	text, err := rxmatch.GenerateAnalyses(coreruleset.FS, "@owasp_crs/*.conf")
	if err != nil {
		return err
	}
	path := filepath.Join(root, "internal", "rxmatch", rxmatch.AnalysesFile)
	if old, err := os.ReadFile(path); err == nil && string(old) == text {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), rxmatch.AnalysesFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(text); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// keepBuilds is how many modules of one package the cache keeps: enough for a few branches'
// worth of source states, few enough that 30 MB modules do not pile up.
const keepBuilds = 4

// cachePrefix names a package's cache entries, so pruning one package keeps the others.
func cachePrefix(pkg string) string {
	name := strings.Trim(pkg, "./")
	if name == "" || name == "github.com/meshwaf/meshwaf" {
		name = "meshwaf"
	}
	return strings.NewReplacer("/", "_", ".", "_").Replace(name) + "-"
}

// prune deletes all but the newest keep modules (and their locks) of one package. Errors are
// ignored: a file another process still reads stays readable on Linux, and the next build
// tries again.
func prune(dir, prefix string, keep int) {
	matches, _ := filepath.Glob(filepath.Join(dir, prefix+"*.wasm"))
	if len(matches) <= keep {
		return
	}
	sort.Slice(matches, func(i, j int) bool { return modTime(matches[i]) > modTime(matches[j]) })
	for _, m := range matches[keep:] {
		os.Remove(m)
		os.Remove(strings.TrimSuffix(m, ".wasm") + ".lock")
	}
}

func modTime(p string) int64 {
	fi, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return fi.ModTime().UnixNano()
}

// ForTest builds pkg for a test, failing the test on a build error.
func ForTest(tb testing.TB, pkg string) string {
	tb.Helper()
	path, err := Build(Options{Package: pkg})
	if err != nil {
		tb.Fatalf("building %s as wasm: %v", pkg, err)
	}
	return path
}

// ForTestTags builds pkg with the given build tags for a test.
func ForTestTags(tb testing.TB, pkg string, tags []string) string {
	tb.Helper()
	path, err := Build(Options{Package: pkg, Tags: tags})
	if err != nil {
		tb.Fatalf("building %s as wasm with tags %v: %v", pkg, tags, err)
	}
	return path
}

// ModuleRoot is the directory holding this module's go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(data), "module github.com/meshwaf/meshwaf\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("wasmbuild: no meshwaf go.mod above the working directory")
		}
		dir = parent
	}
}

func goBinary() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

// sourceHash covers every input of the build and nothing else, so an edit elsewhere in the
// repository (a test, the FTW runner) does not force a rebuild of the 30 MB plugin: the Go and
// embedded files of the module's own packages the build pulls in for wasip1, the packages of
// the post-link step (it shapes the artifact too), go.mod/go.sum (which pin every other
// module), the package, the tags, and the toolchain with the settings that change its output
// (buildSettings).
func sourceHash(root, pkg string, tags []string) (string, error) {
	h := sha256.New()
	settings, err := buildSettings(root)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "pkg=%s\ntags=%s\n%s", pkg, strings.Join(tags, ","), settings)
	files := map[string]bool{"go.mod": true, "go.sum": true}
	for _, q := range []struct {
		pkg  string
		env  []string
		tags []string
	}{
		{pkg, []string{"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0"}, tags},
		{selfPackage, nil, nil},
	} {
		if err := localFiles(root, q.pkg, q.env, q.tags, files); err != nil {
			return "", err
		}
	}
	names := make([]string, 0, len(files))
	for f := range files {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		data, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, fs.ErrNotExist) && f == "go.sum" {
			continue // a module without dependencies has none
		}
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil))[:24], nil
}

// buildSettings are the toolchain's version and the settings, from the environment or from
// `go env -w`, that change what it builds for wasip1: a module built with GOEXPERIMENT=… must
// not be taken for one built without.
func buildSettings(root string) (string, error) {
	cmd := exec.Command(goBinary(), "env", "GOVERSION", "GOEXPERIMENT", "GOFLAGS", "GOWASM", "GOROOT")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w", err)
	}
	return "go env=" + string(out), nil
}

// selfPackage is this package: its dependencies within the module run the post-link step.
const selfPackage = "github.com/meshwaf/meshwaf/internal/wasmbuild"

// localFiles adds to files (relative to root) the Go and embedded files of every package of
// this module that pkg depends on, as `go list -deps` selects them for env and tags.
func localFiles(root, pkg string, env, tags []string, files map[string]bool) error {
	args := []string{"list", "-deps", "-f",
		`{{if and .Module .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	args = append(args, pkg)
	cmd := exec.Command(goBinary(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, stderr)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		rel, err := filepath.Rel(root, line)
		if err != nil || strings.HasPrefix(rel, "..") {
			return fmt.Errorf("go list: %s is outside the module root %s", line, root)
		}
		files[rel] = true
	}
	return nil
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
