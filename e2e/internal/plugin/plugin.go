// Package plugin gives the e2e tests the plugin they check artifacts against: the same
// meshwaf.wasm a user deploys, compiled once per test binary in the wazero host (wasmhost).
//
// The module is MESHWAF_WASM if set (a CI that built it already, or a release artifact),
// else build/meshwaf.wasm of the parent module, built first with `go run mage.go build`
// (cached by source hash, so this costs seconds once the module is built).
package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// EnvWasm names the environment variable that points the tests at a prebuilt module.
const EnvWasm = "MESHWAF_WASM"

var (
	buildOnce sync.Once
	wasmPath  string
	buildErr  error

	compileOnce sync.Once
	module      *wasmhost.Module
	compileErr  error
)

// RepoRoot returns the directory of the parent module (github.com/meshwaf/meshwaf): the first
// directory above the working directory whose go.mod declares it.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(bytes.TrimSpace(data), []byte("module github.com/meshwaf/meshwaf\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no parent directory holds the github.com/meshwaf/meshwaf module")
		}
		dir = parent
	}
}

// WasmPath returns the path of meshwaf.wasm, building it if MESHWAF_WASM is not set.
func WasmPath(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { wasmPath, buildErr = locate() })
	if buildErr != nil {
		t.Fatalf("meshwaf.wasm: %v", buildErr)
	}
	return wasmPath
}

func locate() (string, error) {
	if p := os.Getenv(EnvWasm); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", EnvWasm, err)
		}
		return filepath.Abs(p)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	// `go test ./...` starts one test binary per package, and each may get here at once; two
	// mage runs in one directory overwrite each other's generated mage_output_file.go. A lock
	// under build/ makes them take turns (the second finds the build cached).
	unlock, err := lockBuild(root)
	if err != nil {
		return "", err
	}
	defer unlock()
	var out bytes.Buffer
	cmd := exec.Command(goBin(), "run", "mage.go", "build")
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go run mage.go build in %s: %w\n%s", root, err, out.String())
	}
	return filepath.Join(root, "build", "meshwaf.wasm"), nil
}

// lockBuild takes an exclusive lock on build/e2e-build.lock in the repository.
func lockBuild(root string) (func(), error) {
	dir := filepath.Join(root, "build")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "e2e-build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Module returns meshwaf.wasm compiled for the wazero host, once per test binary.
func Module(t testing.TB) *wasmhost.Module {
	t.Helper()
	path := WasmPath(t)
	compileOnce.Do(func() { module, compileErr = wasmhost.CompileFile(context.Background(), path) })
	if compileErr != nil {
		t.Fatalf("compiling %s: %v", path, compileErr)
	}
	return module
}

// CheckConfig starts the plugin with config as its plugin configuration, as Envoy's
// on_configure does, and fails the test if the plugin refuses it or logs a warning (an
// unknown key, a deprecated include: things a shipped example must not have).
func CheckConfig(t testing.TB, name string, config []byte) {
	t.Helper()
	if err := Accepts(t, config); err != nil {
		t.Errorf("%s: plugin configuration: %v", name, err)
	}
}

// Accepts reports whether the plugin starts with config without warnings; the error holds
// the refusal or the warnings.
func Accepts(t testing.TB, config []byte) error {
	t.Helper()
	m := Module(t)
	ctx := context.Background()
	var (
		mu    sync.Mutex
		warns []string
	)
	p, err := m.NewPlugin(ctx, wasmhost.WithPluginConfig(config),
		wasmhost.WithLogger(func(l wasmhost.LogLevel, msg string) {
			if l >= wasmhost.LogWarn {
				mu.Lock()
				defer mu.Unlock()
				warns = append(warns, fmt.Sprintf("[%s] %s", l, msg))
			}
		}))
	if err != nil {
		return fmt.Errorf("refused: %w", err)
	}
	defer p.Close(ctx)
	if len(warns) > 0 {
		return fmt.Errorf("accepted with warnings:\n%s", strings.Join(warns, "\n"))
	}
	return nil
}

// goBin prefers the go binary of the running toolchain.
func goBin() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
