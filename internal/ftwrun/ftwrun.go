// Package ftwrun runs the OWASP CRS regression suite against the compiled plugin, the logic
// behind `go run mage.go ftw`: it starts the albedo-compatible backend and one or more local
// runners (internal/runner) serving meshwaf.wasm with @ftw-conf, each writing its own log, and
// hands the tests to ftw/runner, which spreads them over the runners. With Target it runs
// against a WAF that is already up (Envoy, a runner started by hand) and its log instead.
package ftwrun

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/meshwaf/meshwaf/ftw"
	"github.com/meshwaf/meshwaf/ftw/backend"
	ftwrunner "github.com/meshwaf/meshwaf/ftw/runner"
	"github.com/meshwaf/meshwaf/internal/runner"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// PluginConfig is the plugin configuration of the local runners: Coraza's recommended
// settings (@recommended-conf first: without SecRequestBodyAccess no body rule fires), CRS
// setup, the engine settings of CRS's own test setup and the log-marker rule (@ftw-conf), and
// the CRS rules. The same JSON serves as Envoy's plugin_config for a run against Envoy.
const PluginConfig = `{"directives_map":{"ftw":["Include @recommended-conf","Include @crs-setup-conf","Include @ftw-conf","Include @owasp_crs/*.conf"]},"default_directives":"ftw"}`

// readTimeout bounds each request of the suite.
const readTimeout = 3 * time.Minute

// Options configure a run. Parse them from flags with ParseArgs.
type Options struct {
	// Module is the plugin served by the local runners.
	Module string
	// Target and LogFile select an external WAF instead of local runners.
	Target, LogFile string
	// Shards is the number of local runners the tests are spread over (default: one per CPU).
	Shards int
	// WorkDir receives the runners' logs and plugin configuration.
	WorkDir string
	// Dir loads the tests from a CRS checkout's tests/regression/tests instead of the suite
	// embedded in coraza-coreruleset.
	Dir string
	// Include and Exclude select tests by name (regexps, as go-ftw's --include/--exclude).
	Include, Exclude string
	// ReportPath is the JSON report ("-" for none).
	ReportPath string
	Verbose    bool
	// Out receives failures and the summary line; Log the progress messages.
	Out, Log io.Writer
}

// ParseArgs reads the flags of `go run mage.go ftw` (given in FTW_ARGS). Paths are relative
// to the module root.
func ParseArgs(args []string) (Options, error) {
	o := Options{Module: runner.DefaultModule, WorkDir: "build/ftw", ReportPath: ftwrunner.DefaultReportPath}
	fs := flag.NewFlagSet("ftw", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.Module, "module", o.Module, "plugin `path` served by the local runners")
	fs.StringVar(&o.Target, "target", "", "run against the WAF at `URL` (e.g. Envoy) instead of local runners; needs --log-file")
	fs.StringVar(&o.LogFile, "log-file", "", "the --target WAF's log `file`")
	fs.IntVar(&o.Shards, "shards", 0, "local runners to spread the tests over (default: one per CPU)")
	fs.StringVar(&o.WorkDir, "work-dir", o.WorkDir, "`dir` for the local runners' logs and plugin configuration")
	fs.StringVar(&o.Dir, "dir", "", "load tests from `dir` (a CRS checkout's tests/regression/tests)")
	fs.StringVar(&o.Include, "include", "", "run only tests whose name (<rule>-<test>) matches `regexp`")
	fs.StringVar(&o.Exclude, "exclude", "", "skip tests whose name matches `regexp`")
	fs.StringVar(&o.ReportPath, "report", o.ReportPath, "JSON report `file` (- for none)")
	fs.BoolVar(&o.Verbose, "verbose", false, "print every result, not only failures")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("ftw: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("ftw: unexpected argument %q", fs.Arg(0))
	}
	switch {
	case (o.Target == "") != (o.LogFile == ""):
		return o, errors.New("ftw: --target and --log-file go together")
	case o.Target != "" && o.Shards > 0:
		return o, errors.New("ftw: --shards is for local runners; a --target WAF is tested through its one log")
	case o.Shards < 0:
		return o, fmt.Errorf("ftw: --shards %d: need at least 1", o.Shards)
	}
	return o, nil
}

// Run runs the suite and returns its summary. The error is for runs that could not be carried
// out (a runner that did not start, a bad option, no marker in the log); failed tests are
// counted in the summary.
func Run(ctx context.Context, o Options) (ftwrunner.Summary, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	cfg, err := ftw.Config()
	if err != nil {
		return ftwrunner.Summary{}, err
	}
	overrides, err := ftw.Overrides()
	if err != nil {
		return ftwrunner.Summary{}, err
	}
	ro := ftwrunner.Options{
		Dir: o.Dir, Include: o.Include, Exclude: o.Exclude,
		Config: &cfg, Overrides: overrides,
		ReportPath: o.ReportPath, Out: o.Out, Verbose: o.Verbose,
		// The largest CRS payloads take seconds through the full CRS in Wasm (920390-1: ~10 s on
		// an idle core, over 60 s on a machine busy with other work), past the client's 10 s.
		ReadTimeout: readTimeout,
	}
	if o.Target != "" {
		ro.Target, ro.LogFile = o.Target, o.LogFile
		return ftwrunner.Run(ctx, ro)
	}
	shards := o.Shards
	if shards == 0 {
		shards = runtime.NumCPU()
	}
	// Go cannot preempt a goroutine running wazero's compiled code: with one P per CPU, the
	// shards' VMs hold every P while they inspect a request, and the FTW client, the proxy's
	// connections and the backend wait for the Wasm call to end (a 3-shard run on 2 CPUs even
	// timed out connecting). Spare Ps let the OS schedule those threads alongside.
	if want := shards + 2; runtime.GOMAXPROCS(0) < want {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(want))
	}
	local, err := startLocal(ctx, o, shards)
	if err != nil {
		return ftwrunner.Summary{}, err
	}
	defer local.close()
	ro.Shards = local.shards
	return ftwrunner.Run(ctx, ro)
}

// localWAF is the backend and the runners of a local run.
type localWAF struct {
	backend *backend.Server
	servers []*runner.Server
	shards  []ftwrunner.Shard
}

// startLocal starts the backend and n runners in parallel (each loads the full CRS into its own
// VM, which takes seconds), each with a fresh log file.
func startLocal(ctx context.Context, o Options, n int) (_ *localWAF, err error) {
	l := &localWAF{}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	if err := os.MkdirAll(o.WorkDir, 0o755); err != nil {
		return nil, fmt.Errorf("ftw: %w", err)
	}
	pluginConfig := filepath.Join(o.WorkDir, "plugin.json")
	if err := os.WriteFile(pluginConfig, []byte(PluginConfig+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("ftw: %w", err)
	}
	if l.backend, err = backend.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	started := time.Now()
	// Compile once first: it fills wazero's on-disk compilation cache, so the runners started in
	// parallel below load the machine code instead of each compiling the 30 MB module (about
	// 10 s of CPU per copy).
	m, err := wasmhost.CompileFile(ctx, o.Module)
	if err != nil {
		return nil, fmt.Errorf("ftw: %w", err)
	}
	if err := m.Close(ctx); err != nil {
		return nil, fmt.Errorf("ftw: %w", err)
	}
	l.servers = make([]*runner.Server, n)
	l.shards = make([]ftwrunner.Shard, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		logFile := filepath.Join(o.WorkDir, fmt.Sprintf("waf-%d.log", i+1))
		if err := os.WriteFile(logFile, nil, 0o644); err != nil { // fresh for this run
			return nil, fmt.Errorf("ftw: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := runner.Start(ctx, runner.Options{
				Listen: "127.0.0.1:0", Upstream: "http://" + l.backend.Addr, ConfigFile: pluginConfig,
				Module: o.Module, LogFile: logFile, Workers: 1,
			})
			if err != nil {
				errs[i] = fmt.Errorf("ftw: local runner %d: %w", i+1, err)
				return
			}
			l.servers[i] = s
			l.shards[i] = ftwrunner.Shard{Target: "http://" + s.Addr(), LogFile: logFile}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var addrs []string
	for _, sh := range l.shards {
		addrs = append(addrs, strings.TrimPrefix(sh.Target, "http://"))
	}
	fmt.Fprintf(o.Log, "ftw: %d local runner(s) on %s -> backend %s, logs %s/waf-N.log (started in %s)\n",
		n, strings.Join(addrs, ", "), l.backend.Addr, o.WorkDir, time.Since(started).Round(time.Millisecond))
	return l, nil
}

func (l *localWAF) close() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // nothing is in flight once the run is over: stop at once
	for _, s := range l.servers {
		if s != nil {
			_ = s.Wait(ctx)
		}
	}
	if l.backend != nil {
		_ = l.backend.Close()
	}
}
