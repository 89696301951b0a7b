//go:build mage

// The project's tasks. Run them with `go run mage.go TARGET` (no mage install needed);
// `go run mage.go -l` lists them.
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/meshwaf/meshwaf/internal/bench"
	"github.com/meshwaf/meshwaf/internal/ftwrun"
	"github.com/meshwaf/meshwaf/internal/soak"
	"github.com/meshwaf/meshwaf/internal/wasmbuild"
)

const (
	// pluginPkg is the root main package: the wasip1 entry point of meshwaf.wasm.
	pluginPkg = "github.com/meshwaf/meshwaf"
	// wasmOut is where Build writes the plugin; the runner loads it from there by default.
	wasmOut = "build/meshwaf.wasm"
	// testTimeout bounds one test binary. The slowest today build and drive the full plugin
	// (1–2 min for a cold build); the FTW suite will need more, not the 10 min default.
	testTimeout = "30m"
)

// wasmEntryPoints are the main packages compiled to wasm; Lint vets everything they import
// from this module as wasip1 code.
var wasmEntryPoints = []string{pluginPkg, "github.com/meshwaf/meshwaf/internal/abitest/testplugin"}

// Build compiles the plugin to build/meshwaf.wasm (cached by source hash, see docs/build.md).
func Build() error {
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		return err
	}
	out := filepath.Join(root, wasmOut)
	path, err := wasmbuild.Build(wasmbuild.Options{Package: pluginPkg, Output: out})
	if err != nil {
		return fmt.Errorf("building %s: %w", pluginPkg, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %.1f MiB (tags %s)\n", wasmOut, float64(st.Size())/(1<<20), strings.Join(wasmbuild.Tags, ","))
	return nil
}

// Run builds the plugin and serves it with the local runner; flags come from MESHWAF_ARGS.
//
// Example: MESHWAF_ARGS="--listen 127.0.0.1:9090 --upstream http://localhost:3000" go run mage.go run
// MESHWAF_ARGS is split on white space (no shell quoting). The runner is built to
// build/meshwaf-runner and started directly rather than through `go run`, because the go
// command ignores SIGINT: mage's cancellation could not reach the runner through it, and
// Ctrl-C would leave it running instead of shutting it down cleanly.
func Run(ctx context.Context) error {
	mg.CtxDeps(ctx, Build)
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(root, "build", "meshwaf-runner")
	if err := goCmd(ctx, nil, "build", "-o", bin, "./cmd/meshwaf"); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, bin, strings.Fields(os.Getenv("MESHWAF_ARGS"))...)
	cmd.Dir = root
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// On cancellation ask for a graceful shutdown; kill only if it does not come.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Run(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("meshwaf: %w", err)
	}
	return nil
}

// FTW runs the OWASP CRS regression suite (4,674 tests) against the built plugin and exits
// non-zero on any failure. Flags come from FTW_ARGS (split on white space).
//
// By default it builds the plugin, starts the albedo-compatible backend and one local runner
// per CPU with @ftw-conf (logs under build/ftw/), spreads the tests over them, prints each
// failure and the line "ftw: N passed, N failed, N skipped", and writes build/ftw-report.json.
// FTW_ARGS: --include/--exclude REGEXP, --dir CRS/tests/regression/tests, --shards N,
// --verbose, --report FILE, and --target URL --log-file PATH to test a running WAF (Envoy)
// instead; see ftw/README.md.
//
// Example: FTW_ARGS="--include ^920" go run mage.go ftw
func FTW(ctx context.Context) error {
	o, err := ftwrun.ParseArgs(strings.Fields(os.Getenv("FTW_ARGS")))
	if err != nil {
		return err
	}
	if o.Target == "" {
		mg.CtxDeps(ctx, Build)
	}
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	o.Out, o.Log = os.Stdout, os.Stderr
	started := time.Now()
	sum, err := ftwrun.Run(ctx, o)
	fmt.Fprintf(os.Stderr, "ftw: %s in total\n", time.Since(started).Round(100*time.Millisecond))
	if err != nil {
		return err
	}
	if sum.Passed+sum.Failed+sum.ForcedPass+sum.ForcedFail == 0 {
		// A run that judged nothing proves nothing: most likely --include matched no test name
		// (names are <rule>-<test>, e.g. 942100-1).
		return fmt.Errorf("ftw: no test ran (%d skipped): check --include/--exclude", sum.Skipped)
	}
	if sum.Failed > 0 {
		return fmt.Errorf("ftw: %d test(s) failed", sum.Failed)
	}
	return nil
}

// Bench measures the plugin once against native Coraza (same directives) and writes
// build/bench.json, then prints a table (docs/performance.md explains every figure).
//
// Per-request cost for a fixed corpus (wasm in wazero and native: ns/op, B/op, ratio), CRS
// load time, VM linear memory after load and after a mixed soak, module size, request body
// cost per KB, the benign GET in V8 (node), and HTTP throughput through the local runner with
// and without the WAF. Flags come from BENCH_ARGS (split on white space): -n soak requests
// (100000), -benchtime per figure (1s), -http load time per mode (5s, 0 skips), -c clients,
// -workers runner VMs, -v8n V8 iterations (0 skips), -sweep=false, -out FILE.
//
// Example: BENCH_ARGS="-n 20000 -http 2s" go run mage.go bench
func Bench(ctx context.Context) error {
	mg.CtxDeps(ctx, Build)
	o, err := bench.ParseArgs(strings.Fields(os.Getenv("BENCH_ARGS")))
	if err != nil {
		return err
	}
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		return err
	}
	if err := os.Chdir(root); err != nil {
		return err
	}
	r, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	bench.PrintTable(os.Stdout, r)
	fmt.Printf("\nwrote %s (%.0f s)\n", o.Out, r.Seconds)
	return nil
}

// Soak drives 1,000,000 mixed requests (benign, attacks, large bodies, early resets) through
// one VM of the built plugin and fails on a trap, a wrong verdict, a stream not closed cleanly
// or linear memory grown after warm-up. It ends with the line
// "soak: N requests, N traps, A MiB after warm-up, B MiB at end". Flags come from SOAK_ARGS:
// -n COUNT, -warmup COUNT, -progress EVERY.
//
// Example: SOAK_ARGS="-n 20000" go run mage.go soak
func Soak(ctx context.Context) error {
	mg.CtxDeps(ctx, Build)
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		return err
	}
	return soak.Main(ctx, filepath.Join(root, wasmOut), strings.Fields(os.Getenv("SOAK_ARGS")), os.Stdout)
}

// Test runs every test: the module's (go test ./...), then the nested e2e module's.
//
// e2e (cd e2e && go test ./...: Envoy and Istio configs, the OCI images through istio-agent's
// fetcher, the end-to-end harness) is a module of its own, which the root's ./... does not reach. The root tests
// build the wasm they need themselves; e2e gets build/meshwaf.wasm through MESHWAF_WASM.
func Test(ctx context.Context) error {
	args := []string{"test", "-timeout", testTimeout}
	if os.Getenv("CI") == "true" {
		// On CI the cache is cold anyway; a fresh run also catches tests that pass only cached.
		args = append(args, "-count=1")
	}
	var errs []error
	if err := goCmd(ctx, nil, append(args, "./...")...); err != nil {
		errs = append(errs, err)
	}
	if err := testE2E(ctx, args); err != nil {
		errs = append(errs, fmt.Errorf("e2e: %w", err))
	}
	return errors.Join(errs...)
}

// testE2E runs the e2e module's tests against build/meshwaf.wasm.
func testE2E(ctx context.Context, args []string) error {
	mg.CtxDeps(ctx, Build)
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		return err
	}
	env := []string{"MESHWAF_WASM=" + filepath.Join(root, wasmOut)}
	return goCmdIn(ctx, filepath.Join(root, "e2e"), env, append(args, "./...")...)
}

// E2e runs the end-to-end harness (e2e/harness) against one target: Envoy with the e2e/envoy
// bootstraps if an envoy binary is on PATH (its version printed; older than 1.33 refused),
// else the local runner with the same plugin configuration, which it says. It sends the smoke
// cases, then the whole CRS regression suite (minutes), judging statuses and the target's log
// (Envoy's --log-path, the runner's --log-file). `go run mage.go test` runs the same harness
// with a 45-test FTW subset instead.
func E2e(ctx context.Context) error {
	mg.CtxDeps(ctx, Build)
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		return err
	}
	env := []string{"MESHWAF_WASM=" + filepath.Join(root, wasmOut), "MESHWAF_E2E_TARGET=auto", "MESHWAF_E2E_FTW=full"}
	// The smoke cases first: they fail in seconds where the suite takes minutes.
	for _, test := range []string{"TestSmoke", "TestFTW"} {
		if err := goCmdIn(ctx, filepath.Join(root, "e2e"), env, "test", "-count=1", "-v", "-timeout", testTimeout,
			"-run", "^"+test+"$", "./harness"); err != nil {
			return err
		}
	}
	return nil
}

// Image builds the two OCI images of build/meshwaf.wasm istio-agent pulls, as OCI layouts.
//
// The layouts: build/oci/artifact (the Wasm OCI artifact) and build/oci/compat (the
// Docker-compatible image, plugin.wasm in a tar.gz layer). It prints each manifest digest,
// the sha256 a WasmPlugin or TrafficExtension names. Flags come from IMAGE_ARGS (split on
// white space): --push REF pushes the artifact, --push-compat REF the compat image, --tag.
// The code is e2e/oci and e2e/cmd/meshwaf-image, in the e2e module, so go-containerregistry
// stays out of the plugin's go.mod.
//
// Example: IMAGE_ARGS="--push registry.example.com/meshwaf:1.0" go run mage.go image
func Image(ctx context.Context) error {
	mg.CtxDeps(ctx, Build)
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		return err
	}
	args := append([]string{"run", "./cmd/meshwaf-image",
		"--wasm", filepath.Join(root, wasmOut), "--out", filepath.Join(root, "build", "oci")},
		strings.Fields(os.Getenv("IMAGE_ARGS"))...)
	return goCmdIn(ctx, filepath.Join(root, "e2e"), nil, args...)
}

// Lint fails on a gofmt diff or a go vet finding, native or in the wasm code (wasip1).
//
// The wasm pass vets the packages compiled into the modules with GOOS=wasip1 GOARCH=wasm and
// the plugin's build tags, so the wasip1-only files (exports, host imports) are vetted too.
func Lint(ctx context.Context) error {
	var errs []error
	if err := gofmtCheck(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := goCmd(ctx, nil, "vet", "./..."); err != nil {
		errs = append(errs, fmt.Errorf("go vet: %w", err))
	}
	if err := vetWasm(ctx); err != nil {
		errs = append(errs, fmt.Errorf("go vet (wasip1): %w", err))
	}
	return errors.Join(errs...)
}

// Clean removes build/ (the plugin and the wasm build cache).
func Clean() error {
	root, err := wasmbuild.ModuleRoot()
	if err != nil {
		return err
	}
	return os.RemoveAll(filepath.Join(root, "build"))
}

// gofmtCheck lists every Go file whose formatting differs from gofmt's, nested modules
// included, and fails if there is one.
func gofmtCheck(ctx context.Context) error {
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "build" || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, "gofmt", append([]string{"-l"}, files...)...)
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("gofmt: %w", err)
	}
	if out.Len() > 0 {
		return fmt.Errorf("files not gofmt-formatted (run gofmt -w):\n%s", out.String())
	}
	return nil
}

// vetWasm vets, for wasip1, the non-test files of every package of this module that a wasm
// entry point imports. Test files are left out on purpose: they run natively and may use the
// host side (wazero, wasmbuild), which does not build for wasip1; native vet covers them.
func vetWasm(ctx context.Context) error {
	env := []string{"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0"}
	tags := strings.Join(wasmbuild.Tags, ",")
	if err := wasmbuild.WriteGenerated(); err != nil {
		return err
	}
	var list bytes.Buffer
	args := append([]string{"list", "-e", "-deps", "-tags", tags,
		"-f", `{{if and (not .Standard) (eq .Module.Path "github.com/meshwaf/meshwaf")}}{{.Dir}}{{"\t"}}{{join .GoFiles " "}}{{"\t"}}{{.Error}}{{end}}`},
		wasmEntryPoints...)
	cmd := exec.CommandContext(ctx, goBin(), args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = append(os.Environ(), env...), &list, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go list: %w", err)
	}
	var errs []error
	vetted := 0
	for _, line := range strings.Split(strings.TrimSpace(list.String()), "\n") {
		dir, rest, _ := strings.Cut(line, "\t")
		files, listErr, _ := strings.Cut(rest, "\t")
		if dir == "" || files == "" {
			// An entry point that does not exist yet (the plugin is being written) has no
			// files; anything else that fails to load is reported by vet below.
			if listErr != "" && listErr != "<nil>" {
				fmt.Fprintf(os.Stderr, "lint: skipping %s for wasip1: %s\n", dir, listErr)
			}
			continue
		}
		vetArgs := append([]string{"vet", "-tags", tags}, strings.Fields(files)...)
		vc := exec.CommandContext(ctx, goBin(), vetArgs...)
		vc.Dir, vc.Env, vc.Stdout, vc.Stderr = dir, append(os.Environ(), env...), os.Stdout, os.Stderr
		if err := vc.Run(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", dir, err))
		}
		vetted++
	}
	if vetted == 0 {
		return errors.New("no packages found to vet for wasip1")
	}
	return errors.Join(errs...)
}

// goCmd runs the go command of the toolchain running mage, its output going to the terminal.
func goCmd(ctx context.Context, env []string, args ...string) error {
	return goCmdIn(ctx, "", env, args...)
}

// goCmdIn is goCmd in directory dir ("" for the current one), e.g. the nested e2e module.
func goCmdIn(ctx context.Context, dir string, env []string, args ...string) error {
	if mg.Verbose() {
		fmt.Println("exec: go", strings.Join(args, " "), "in", dir)
	}
	cmd := exec.CommandContext(ctx, goBin(), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", args[0], err)
	}
	return nil
}

// goBin prefers the go binary mage itself was started with (GOROOT), like wasmbuild does.
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
