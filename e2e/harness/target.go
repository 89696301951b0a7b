// Package harness starts a WAF to test end to end: Envoy from one of the e2e/envoy bootstraps
// when an envoy binary is on PATH, else the local runner (cmd/meshwaf) with the plugin
// configuration taken from the same bootstrap. Either way the same meshwaf.wasm serves, in
// front of the albedo-compatible backend (ftw/backend), and its log goes to a file the tests
// read.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/meshwaf/meshwaf/e2e/envoy"
	"github.com/meshwaf/meshwaf/e2e/internal/plugin"
	"github.com/meshwaf/meshwaf/ftw/backend"
)

// Kind is what serves the plugin.
type Kind string

const (
	Envoy  Kind = "envoy"
	Runner Kind = "runner"
)

// EnvTarget set to "auto" (as `go run mage.go e2e` does) runs the e2e tests against one target:
// Envoy if an envoy binary is on PATH, else the local runner. Unset, they run against both,
// the Envoy ones skipped where there is no envoy.
const EnvTarget = "MESHWAF_E2E_TARGET"

// Kinds returns the targets the e2e tests run against (see EnvTarget).
func Kinds(t *testing.T) []Kind {
	t.Helper()
	switch v := os.Getenv(EnvTarget); v {
	case "":
		return []Kind{Envoy, Runner}
	case "auto":
		autoOnce.Do(func() { autoKind, autoErr = selectKind() })
		if autoErr != nil {
			t.Fatal(autoErr)
		}
		return []Kind{autoKind}
	default:
		t.Fatalf("%s=%q: want auto or nothing", EnvTarget, v)
		return nil
	}
}

var (
	autoOnce sync.Once
	autoKind Kind
	autoErr  error
)

// selectKind picks Envoy if one is on PATH, refusing one older than MinEnvoy, else the
// runner, and says which on stdout (outside the test log, so it shows whatever the verdict).
func selectKind() (Kind, error) {
	bin, v, err := findEnvoy()
	switch {
	case errors.Is(err, errNoEnvoy):
		fmt.Println("envoy not found on PATH: running against the local runner")
		return Runner, nil
	case err != nil:
		return "", err
	}
	fmt.Printf("envoy %s (%s): running against Envoy\n", v, bin)
	return Envoy, nil
}

// errNoEnvoy: no envoy binary on PATH.
var errNoEnvoy = errors.New("no envoy on PATH")

// findEnvoy returns the first envoy on PATH and its release, refusing one older than
// MinEnvoy (EnvoyVersion's error says which and what to do); errNoEnvoy when there is none.
func findEnvoy() (string, Version, error) {
	bin, err := exec.LookPath("envoy")
	if err != nil {
		return "", Version{}, fmt.Errorf("%w (%v)", errNoEnvoy, err)
	}
	v, err := EnvoyVersion(bin)
	return bin, v, err
}

// Target is a running WAF.
type Target struct {
	Kind Kind
	// URL is where requests go ("http://127.0.0.1:PORT").
	URL string
	// LogFile receives the plugin's log (Envoy's --log-path, the runner's --log-file).
	LogFile string
}

// Start starts a WAF of kind k configured by the bootstrap file (relative to e2e/envoy),
// in front of a fresh backend, and stops both when the test ends. For Envoy without an envoy
// binary on PATH it skips the test, saying so.
func Start(t *testing.T, k Kind, bootstrapFile string) Target {
	t.Helper()
	b, err := envoy.Load(filepath.Join(envoyDir(t), bootstrapFile))
	if err != nil {
		t.Fatalf("%s: %v", bootstrapFile, err)
	}
	var envoyBin string
	if k == Envoy {
		bin, v, err := findEnvoy()
		switch {
		case errors.Is(err, errNoEnvoy):
			t.Skipf("Envoy target skipped: %v; the runner target runs the same tests", err)
		case err != nil:
			t.Fatal(err)
		}
		envoyBin = bin
		t.Logf("envoy %s (%s)", v, envoyBin)
	}
	wasm := plugin.WasmPath(t)
	be, err := backend.Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = be.Close() })

	dir := t.TempDir()
	tg := Target{Kind: k, LogFile: filepath.Join(dir, string(k)+".log")}
	port := freePort(t)
	tg.URL = fmt.Sprintf("http://127.0.0.1:%d", port)
	adminPort := freePort(t)
	var cmd *exec.Cmd
	switch k {
	case Envoy:
		cfg := filepath.Join(dir, "bootstrap.json")
		if err := localBootstrap(b, port, adminPort, be.Addr, wasm, cfg); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(envoyBin, "-c", cfg, "--log-path", tg.LogFile, "--concurrency", "1",
			"--base-id", fmt.Sprint(port), "--component-log-level", "wasm:info")
	case Runner:
		filters, err := envoy.WasmFilters(b)
		if err != nil || len(filters) != 1 {
			t.Fatalf("%s: want one wasm filter: %v", bootstrapFile, err)
		}
		pc, err := filters[0].PluginConfiguration()
		if err != nil {
			t.Fatal(err)
		}
		cfg := filepath.Join(dir, "plugin-config.json")
		if err := os.WriteFile(cfg, pc, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd = exec.Command(runnerBin(t), "--listen", fmt.Sprintf("127.0.0.1:%d", port),
			"--upstream", "http://"+be.Addr, "--config", cfg, "--module", wasm, "--log-file", tg.LogFile)
	default:
		t.Fatalf("unknown target kind %q", k)
	}
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	ready := func() bool { return strings.Contains(out.String(), "meshwaf: serving http://") }
	if k == Envoy {
		ready = func() bool { return httpOK(fmt.Sprintf("http://127.0.0.1:%d/ready", adminPort)) }
	}
	if err := waitReady(ready, exited, 3*time.Minute); err != nil {
		t.Fatalf("%s did not become ready: %v\n%s", k, err, out.String())
	}
	t.Logf("%s serving %s (log %s)", k, tg.URL, tg.LogFile)
	return tg
}

// bootstrapModule is where the bootstraps load the module from (docker-compose.yaml mounts
// build/meshwaf.wasm there).
const bootstrapModule = "/etc/envoy/meshwaf.wasm"

// localBootstrap rewrites a bootstrap for a local Envoy: admin and listeners on loopback
// ports, the "backend" cluster a STATIC endpoint at backendAddr, the module loaded from wasm;
// the result is written as JSON to path. A bootstrap it cannot rewrite so (no admin address,
// no backend cluster, a module elsewhere than bootstrapModule) is an error rather than an
// Envoy that talks to the wrong place.
func localBootstrap(b *bootstrapv3.Bootstrap, port, adminPort int, backendAddr, wasm, path string) error {
	host, bp, err := net.SplitHostPort(backendAddr)
	if err != nil {
		return fmt.Errorf("backend address: %w", err)
	}
	backendPort, err := strconv.ParseUint(bp, 10, 16)
	if err != nil {
		return fmt.Errorf("backend address %q: port: %w", backendAddr, err)
	}
	loopback := func(sa *corev3.SocketAddress, port int) {
		sa.Address = "127.0.0.1"
		sa.PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: uint32(port)}
	}
	admin := b.GetAdmin().GetAddress().GetSocketAddress()
	if admin == nil {
		return errors.New("no admin socket address: the harness waits on the admin's /ready")
	}
	loopback(admin, adminPort)
	for _, l := range b.GetStaticResources().GetListeners() {
		sa := l.GetAddress().GetSocketAddress()
		if sa == nil {
			return fmt.Errorf("listener %q has no socket address", l.GetName())
		}
		loopback(sa, port)
	}
	backendRewritten := false
	for _, c := range b.GetStaticResources().GetClusters() {
		if c.GetName() != "backend" {
			continue
		}
		eps := c.GetLoadAssignment().GetEndpoints()
		if len(eps) != 1 || len(eps[0].GetLbEndpoints()) != 1 {
			return errors.New(`cluster "backend": want one endpoint to point at the test backend`)
		}
		sa := eps[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
		if sa == nil {
			return errors.New(`cluster "backend": the endpoint has no socket address`)
		}
		// STATIC: the backend is an IP address, and STRICT_DNS would resolve it needlessly.
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC}
		sa.Address = host
		sa.PortSpecifier = &corev3.SocketAddress_PortValue{PortValue: uint32(backendPort)}
		backendRewritten = true
	}
	if !backendRewritten {
		return errors.New(`no cluster "backend" to point at the test backend`)
	}
	js, err := envoy.Marshal(b)
	if err != nil {
		return err
	}
	// The module path sits in the wasm filter's packed Any: rewritten in the JSON, as JSON
	// strings on both sides.
	from, _ := json.Marshal(bootstrapModule)
	to, err := json.Marshal(wasm)
	if err != nil {
		return err
	}
	if !bytes.Contains(js, from) {
		return fmt.Errorf("the bootstrap does not load the module from %s: cannot point it at %s", bootstrapModule, wasm)
	}
	js = bytes.ReplaceAll(js, from, to)
	return os.WriteFile(path, js, 0o644)
}

// waitReady polls ready until it holds or the process exits. The runner says it serves
// once its VMs are configured (the full CRS takes a while on a busy machine); Envoy's admin
// /ready answers 200 once its listeners are up, after the plugin's on_configure.
func waitReady(ready func() bool, exited <-chan error, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("exited: %v", err)
		default:
		}
		if ready() {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("not ready within %v", timeout)
}

func httpOK(url string) bool {
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// syncBuffer collects a child's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func envoyDir(t *testing.T) string {
	t.Helper()
	root, err := plugin.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "e2e", "envoy")
}

var (
	runnerOnce sync.Once
	runnerPath string
	runnerErr  error
)

// runnerBin builds the local runner (cmd/meshwaf of the parent module) once per test binary.
func runnerBin(t *testing.T) string {
	t.Helper()
	runnerOnce.Do(func() {
		root, err := plugin.RepoRoot()
		if err != nil {
			runnerErr = err
			return
		}
		runnerPath = filepath.Join(root, "build", "e2e", "meshwaf-runner")
		cmd := exec.CommandContext(context.Background(), "go", "build", "-o", runnerPath, "./cmd/meshwaf")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			runnerErr = fmt.Errorf("go build ./cmd/meshwaf: %v\n%s", err, out)
		}
	})
	if runnerErr != nil {
		t.Fatal(runnerErr)
	}
	return runnerPath
}
