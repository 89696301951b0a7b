package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"

	"github.com/meshwaf/meshwaf/e2e/envoy"
)

// fakeEnvoy writes an executable named envoy into a new directory that answers --version as
// a release build does ("envoy  version: <commit>/<release>/Clean/RELEASE/BoringSSL", between
// blank lines, exit 0), and returns the directory.
func fakeEnvoy(t *testing.T, release string) string {
	t.Helper()
	dir := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\n"+
		"[ \"$1\" = --version ] || { echo \"fake envoy: only --version\" >&2; exit 2; }\n"+
		"printf '\\nenvoy  version: b0f43d67aa25c1b03c97186a200cc187f4c22db3/%s/Clean/RELEASE/BoringSSL\\n\\n'\n", release)
	if err := os.WriteFile(filepath.Join(dir, "envoy"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// scriptDir writes an executable named envoy with the given body.
func scriptDir(t *testing.T, body string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "envoy"), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The Envoy branch of target selection, with fake envoy binaries first on PATH: none → the
// runner; older than MinEnvoy → refused, saying which Envoy, what is needed and what to do;
// MinEnvoy or newer → Envoy; an envoy whose version cannot be read → an error, not a guess.
func TestEnvoySelection(t *testing.T) {
	cases := []struct {
		name    string
		path    func(t *testing.T) []string // PATH entries, in order
		kind    Kind
		version Version
		errs    []string // all in the error; none = accepted
	}{
		{name: "no_envoy_runs_the_runner", path: func(t *testing.T) []string { return []string{t.TempDir()} }, kind: Runner},
		{
			name:    "envoy_1_32_refused",
			path:    func(t *testing.T) []string { return []string{fakeEnvoy(t, "1.32.3")} },
			version: Version{1, 32, 3},
			errs:    []string{"is Envoy 1.32.3", "meshwaf needs Envoy >= 1.33", "put a newer envoy first on PATH"},
		},
		{name: "envoy_1_33_accepted", path: func(t *testing.T) []string { return []string{fakeEnvoy(t, "1.33.2")} }, kind: Envoy, version: Version{1, 33, 2}},
		{name: "envoy_1_39_dev_accepted", path: func(t *testing.T) []string { return []string{fakeEnvoy(t, "1.39.0-dev")} }, kind: Envoy, version: Version{1, 39, 0}},
		{
			name:    "first_on_path_wins_new_before_old",
			path:    func(t *testing.T) []string { return []string{fakeEnvoy(t, "1.33.0"), fakeEnvoy(t, "1.32.0")} },
			kind:    Envoy,
			version: Version{1, 33, 0},
		},
		{
			name:    "first_on_path_wins_old_before_new",
			path:    func(t *testing.T) []string { return []string{fakeEnvoy(t, "1.32.0"), fakeEnvoy(t, "1.33.0")} },
			version: Version{1, 32, 0},
			errs:    []string{"is Envoy 1.32.0", "put a newer envoy first on PATH"},
		},
		{
			name: "unreadable_version_refused",
			path: func(t *testing.T) []string { return []string{scriptDir(t, "echo 'Envoy Proxy, build unknown'")} },
			errs: []string{"no release number", "Envoy Proxy, build unknown"},
		},
		{
			name: "failing_envoy_refused",
			path: func(t *testing.T) []string { return []string{scriptDir(t, "echo 'cannot run' >&2; exit 1")} },
			errs: []string{"--version", "exit status 1", "cannot run"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dirs := c.path(t)
			t.Setenv("PATH", strings.Join(dirs, string(os.PathListSeparator)))
			bin, v, err := findEnvoy()
			kind, selErr := selectKind()
			if len(c.errs) > 0 {
				for _, e := range []error{err, selErr} {
					if e == nil {
						t.Fatalf("accepted (%s %v), want an error containing %q", bin, v, c.errs)
					}
					for _, want := range c.errs {
						if !strings.Contains(e.Error(), want) {
							t.Errorf("error %q lacks %q", e, want)
						}
					}
				}
				if v != c.version {
					t.Errorf("version %v, want %v", v, c.version)
				}
				t.Logf("refused: %v", selErr)
				return
			}
			if selErr != nil {
				t.Fatal(selErr)
			}
			if kind != c.kind {
				t.Errorf("selected %q, want %q", kind, c.kind)
			}
			if c.kind == Runner {
				if !errors.Is(err, errNoEnvoy) {
					t.Errorf("findEnvoy: %v, want errNoEnvoy", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v != c.version {
				t.Errorf("version %v, want %v", v, c.version)
			}
			if want := filepath.Join(dirs[0], "envoy"); bin != want {
				t.Errorf("bin %s, want the first on PATH, %s", bin, want)
			}
		})
	}
}

// localBootstrap turns each bootstrap the harness starts Envoy with into one for a local run:
// the output still parses and validates as an Envoy bootstrap (the envoy package's strict
// checks), admin and listeners are on the loopback ports, the backend cluster is a STATIC
// endpoint at the test backend, the wasm filter loads the given module (a path needing no
// quoting tricks but a space), and nothing else changed: the plugin configuration and the
// stats_tags are the bootstrap's. Bootstraps it cannot rewrite so are refused.
func TestLocalBootstrap(t *testing.T) {
	const port, adminPort, backend = 18080, 19901, "127.0.0.1:18000"
	for _, file := range []string{"envoy.yaml", "envoy-ftw.yaml"} {
		t.Run(file, func(t *testing.T) {
			orig, err := envoy.Load(filepath.Join(envoyDir(t), file))
			if err != nil {
				t.Fatal(err)
			}
			b := proto.Clone(orig).(*bootstrapv3.Bootstrap)
			dir := t.TempDir()
			wasm := filepath.Join(dir, "build dir", "meshwaf.wasm")
			out := filepath.Join(dir, "bootstrap.json")
			if err := localBootstrap(b, port, adminPort, backend, wasm, out); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			got, err := envoy.Parse(data)
			if err != nil {
				t.Fatalf("the rewritten bootstrap does not parse: %v", err)
			}
			if err := envoy.Validate(got); err != nil {
				t.Fatalf("the rewritten bootstrap does not validate: %v", err)
			}
			for _, leftover := range []string{bootstrapModule, `"0.0.0.0"`} {
				if strings.Contains(string(data), leftover) {
					t.Errorf("the rewritten bootstrap still holds %s", leftover)
				}
			}
			if sa := got.GetAdmin().GetAddress().GetSocketAddress(); sa.GetAddress() != "127.0.0.1" || sa.GetPortValue() != adminPort {
				t.Errorf("admin at %s:%d, want 127.0.0.1:%d", sa.GetAddress(), sa.GetPortValue(), adminPort)
			}
			ls := got.GetStaticResources().GetListeners()
			if len(ls) == 0 {
				t.Error("no listeners")
			}
			for _, l := range ls {
				if sa := l.GetAddress().GetSocketAddress(); sa.GetAddress() != "127.0.0.1" || sa.GetPortValue() != port {
					t.Errorf("listener %s at %s:%d, want 127.0.0.1:%d", l.GetName(), sa.GetAddress(), sa.GetPortValue(), port)
				}
			}
			found := false
			for _, c := range got.GetStaticResources().GetClusters() {
				if c.GetName() != "backend" {
					continue
				}
				found = true
				if c.GetType() != clusterv3.Cluster_STATIC {
					t.Errorf("backend cluster type %v, want STATIC", c.GetType())
				}
				sa := c.GetLoadAssignment().GetEndpoints()[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
				if addr := fmt.Sprintf("%s:%d", sa.GetAddress(), sa.GetPortValue()); addr != backend {
					t.Errorf("backend endpoint %s, want %s", addr, backend)
				}
			}
			if !found {
				t.Error("no backend cluster")
			}
			gotFilters, err := envoy.WasmFilters(got)
			if err != nil || len(gotFilters) != 1 {
				t.Fatalf("%d wasm filters (%v), want 1", len(gotFilters), err)
			}
			if fn := gotFilters[0].Filter.GetConfig().GetVmConfig().GetCode().GetLocal().GetFilename(); fn != wasm {
				t.Errorf("module %q, want %q", fn, wasm)
			}
			origFilters, err := envoy.WasmFilters(orig)
			if err != nil {
				t.Fatal(err)
			}
			pcGot, err1 := gotFilters[0].PluginConfiguration()
			pcOrig, err2 := origFilters[0].PluginConfiguration()
			if err1 != nil || err2 != nil || string(pcGot) != string(pcOrig) {
				t.Errorf("plugin configuration changed (%v, %v):\n%s\nwant\n%s", err1, err2, pcGot, pcOrig)
			}
			if !proto.Equal(got.GetStatsConfig(), orig.GetStatsConfig()) {
				t.Error("stats_config changed")
			}
		})
	}

	refused := []struct {
		name, want string
		edit       func(t *testing.T, b *bootstrapv3.Bootstrap)
		backend    string
	}{
		{"module_elsewhere", "does not load the module from /etc/envoy/meshwaf.wasm", func(t *testing.T, b *bootstrapv3.Bootstrap) {
			js, err := envoy.Marshal(b)
			if err != nil {
				t.Fatal(err)
			}
			nb, err := envoy.Parse([]byte(strings.ReplaceAll(string(js), bootstrapModule, "/opt/meshwaf.wasm")))
			if err != nil {
				t.Fatal(err)
			}
			proto.Reset(b)
			proto.Merge(b, nb)
		}, backend},
		{"no_backend_cluster", `no cluster "backend"`, func(_ *testing.T, b *bootstrapv3.Bootstrap) {
			b.GetStaticResources().GetClusters()[0].Name = "upstream"
		}, backend},
		{"no_admin", "no admin socket address", func(_ *testing.T, b *bootstrapv3.Bootstrap) { b.Admin = nil }, backend},
		{"bad_backend_address", "backend address", func(*testing.T, *bootstrapv3.Bootstrap) {}, "127.0.0.1"},
		{"bad_backend_port", "port", func(*testing.T, *bootstrapv3.Bootstrap) {}, "127.0.0.1:http"},
	}
	for _, c := range refused {
		t.Run("refused_"+c.name, func(t *testing.T) {
			b, err := envoy.Load(filepath.Join(envoyDir(t), "envoy.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			c.edit(t, b)
			out := filepath.Join(t.TempDir(), "bootstrap.json")
			err = localBootstrap(b, port, adminPort, c.backend, "/tmp/meshwaf.wasm", out)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
			if _, statErr := os.Stat(out); statErr == nil {
				t.Error("a refused bootstrap was written anyway")
			}
		})
	}
}
