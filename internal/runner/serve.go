package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// Server is a running local runner: the proxy listener, the loaded plugin and, without
// --upstream, the built-in echo upstream.
type Server struct {
	addr     string
	upstream string
	proxy    *http.Server
	echo     *http.Server
	module   *wasmhost.Module
	plugin   *wasmhost.Plugin
	logFile  *os.File
	served   chan error
}

// Start checks everything that can be checked cheaply first (port, module file, log file,
// configuration syntax), then loads the module and the plugin, and starts serving. Errors say
// what to do about them.
func Start(ctx context.Context, o Options) (_ *Server, err error) {
	s := &Server{served: make(chan error, 2)}
	defer func() {
		if err != nil {
			s.close(context.Background())
		}
	}()

	if err := o.LoadPluginConfig(); err != nil {
		return nil, err
	}
	if err := checkModule(o.Module); err != nil {
		return nil, err
	}
	// Listen before the slow part (loading the rules), so a busy port fails at once.
	ln, err := listen(o.Listen)
	if err != nil {
		return nil, err
	}
	s.addr = ln.Addr().String()
	// MaxHeaderBytes bounds what net/http buffers for a request head (it answers 431 past it);
	// the proxy then applies Envoy's 60 KiB / 100 headers limits with its own 431.
	s.proxy = &http.Server{ReadHeaderTimeout: 30 * time.Second, MaxHeaderBytes: 96 << 10}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()

	logger, err := s.openLog(o.LogFile)
	if err != nil {
		return nil, err
	}

	s.module, err = wasmhost.CompileFile(ctx, o.Module)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", o.Module, err)
	}
	var started startLog
	opts := []wasmhost.PluginOption{
		wasmhost.WithPluginConfig(o.PluginConfig),
		wasmhost.WithVMs(o.Workers),
		wasmhost.WithLogger(started.tee(logger)),
	}
	for _, kv := range o.VMEnv {
		opts = append(opts, wasmhost.WithEnv(kv[0], kv[1]))
	}
	s.plugin, err = s.module.NewPlugin(ctx, opts...)
	started.stop()
	if err != nil {
		return nil, started.explain(configName(o.ConfigFile), err)
	}

	upstream := o.Upstream
	if upstream == "" {
		if upstream, err = s.startEcho(); err != nil {
			return nil, err
		}
	}
	s.upstream = describeUpstream(upstream, o.Upstream == "")
	proxy, err := wasmhost.NewProxy(s.plugin, upstream)
	if err != nil {
		return nil, err
	}
	s.proxy.Handler = proxy
	go func() { s.served <- ignoreClosed(s.proxy.Serve(ln)) }()
	return s, nil
}

// Addr is the address the proxy listens on (useful with --listen 127.0.0.1:0).
func (s *Server) Addr() string { return s.addr }

// Upstream describes where requests go.
func (s *Server) Upstream() string { return s.upstream }

// Wait blocks until ctx ends or serving fails, then shuts down: in-flight requests get up to
// 10 seconds, then the plugin's VMs are ended as Envoy ends them.
func (s *Server) Wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-s.served:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return errors.Join(err, s.close(shutdownCtx))
}

func (s *Server) close(ctx context.Context) error {
	var errs []error
	if s.proxy != nil && s.proxy.Handler != nil {
		errs = append(errs, s.proxy.Shutdown(ctx))
	}
	if s.echo != nil {
		errs = append(errs, s.echo.Shutdown(ctx))
	}
	if s.plugin != nil {
		errs = append(errs, s.plugin.Close(ctx))
	}
	if s.module != nil {
		errs = append(errs, s.module.Close(ctx))
	}
	if s.logFile != nil {
		errs = append(errs, s.logFile.Close())
	}
	return errors.Join(errs...)
}

// openLog returns the plugin's logger: the log file, appended to, one line per message
// written straight through (an *os.File is unbuffered, so each line reaches the file when it
// is logged and `tail -f` sees it), or standard error.
func (s *Server) openLog(path string) (wasmhost.Logger, error) {
	if path == "" {
		return wasmhost.WriterLogger(os.Stderr), nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--log-file: %w", err)
	}
	s.logFile = f
	return wasmhost.WriterLogger(f), nil
}

// startEcho serves EchoHandler on a random loopback port and returns its URL.
func (s *Server) startEcho() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("starting the built-in echo upstream: %w", err)
	}
	s.echo = &http.Server{Handler: EchoHandler(), ReadHeaderTimeout: 30 * time.Second}
	go func() { s.served <- ignoreClosed(s.echo.Serve(ln)) }()
	return "http://" + ln.Addr().String(), nil
}

// checkModule turns a missing module into advice rather than a bare ENOENT.
func checkModule(path string) error {
	st, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if path == DefaultModule {
			return fmt.Errorf("module %s not found: run `go run mage.go build` first (from the repository root), or pass --module", path)
		}
		return fmt.Errorf("module %s not found (build one with `go run mage.go build`): %w", path, err)
	case err != nil:
		return fmt.Errorf("module: %w", err)
	case st.IsDir():
		return fmt.Errorf("module %s is a directory, want a .wasm file", path)
	}
	return nil
}

// listen opens the proxy's port, saying what to do when it is taken.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("--listen %s: the port is in use (another meshwaf or server?); stop it or choose another with --listen: %w", addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", addr, err)
	}
	return ln, nil
}

func configName(file string) string {
	if file == "" {
		return "the default configuration (full CRS)"
	}
	return file
}

func ignoreClosed(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Validate checks a configuration file the way Start would use it: syntax, then a plugin
// start in one VM for each configuration in the file (one for JSON, one per Istio manifest),
// which compiles every rule. Like nginx -t it shows every problem: the plugin logs one error
// line per mistake, all of them are printed, and the result is an error when any
// configuration was refused.
func Validate(ctx context.Context, o Options, out io.Writer) error {
	configs, skipped, err := o.loadPluginConfigs()
	if err != nil {
		return err
	}
	if err := checkModule(o.Module); err != nil {
		return err
	}
	m, err := wasmhost.CompileFile(ctx, o.Module)
	if err != nil {
		return fmt.Errorf("loading %s: %w", o.Module, err)
	}
	defer m.Close(ctx)
	for _, s := range skipped {
		fmt.Fprintf(out, "%s: skipping %s: not a WasmPlugin or TrafficExtension\n", configName(o.ConfigFile), s)
	}
	var refused []string
	for _, c := range configs {
		name := configName(o.ConfigFile)
		if c.Name != "" {
			name += " (" + c.Name + ")"
		}
		if err := validateOne(ctx, m, c.JSON, name, out); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(out, "%s: not valid for %s\n", name, o.Module)
			refused = append(refused, name)
			continue
		}
		fmt.Fprintf(out, "%s: valid for %s\n", name, o.Module)
	}
	if len(refused) > 0 {
		return fmt.Errorf("%s not valid for %s (the lines above say why)", strings.Join(refused, ", "), o.Module)
	}
	return nil
}

// validateOne starts the plugin with one configuration and prints its warnings and errors,
// each prefixed with name when the file holds manifests.
func validateOne(ctx context.Context, m *wasmhost.Module, config []byte, name string, out io.Writer) error {
	var (
		mu  sync.Mutex
		log []string
	)
	p, err := m.NewPlugin(ctx, wasmhost.WithPluginConfig(config),
		wasmhost.WithLogger(func(l wasmhost.LogLevel, msg string) {
			if l >= wasmhost.LogWarn {
				mu.Lock()
				defer mu.Unlock()
				log = append(log, fmt.Sprintf("[%s] %s", l, msg))
			}
		}))
	mu.Lock()
	defer mu.Unlock()
	for _, l := range log {
		fmt.Fprintf(out, "%s: %s\n", name, l)
	}
	if err != nil {
		if len(log) == 0 {
			// Nothing logged (a trap, a host error): the host's error is all there is.
			fmt.Fprintf(out, "%s: %v\n", name, err)
		}
		return err
	}
	return p.Close(ctx)
}
