// Package runner is the logic of the local runner (cmd/meshwaf): it serves the real
// meshwaf.wasm through the wazero host (wasmhost) in front of an upstream, so a user can try
// the exact artifact Envoy would load without running Envoy.
package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// DefaultPluginConfig is the configuration used without --config: the full OWASP CRS at
// paranoia level 1 with blocking on, the same JSON a user of the Coraza proxy-wasm filter
// writes.
const DefaultPluginConfig = `{"directives_map":{"default":["Include @recommended-conf","SecRuleEngine On","Include @crs-setup-conf","Include @owasp_crs/*.conf"]},"default_directives":"default"}`

// DefaultModule is where `go run mage.go build` writes the plugin.
const DefaultModule = "build/meshwaf.wasm"

// ErrUsage marks command-line mistakes; the caller prints usage and exits with status 2.
var ErrUsage = errors.New("usage error")

// Options are the runner's settings, parsed and checked once from the command line.
type Options struct {
	// Listen is the address the proxy serves on.
	Listen string
	// Upstream is where requests go after the plugin; empty means the built-in echo server.
	Upstream string
	// ConfigFile is the plugin configuration's file, empty for DefaultPluginConfig.
	ConfigFile string
	// PluginConfig is the configuration handed to the plugin (the file's bytes or the default).
	PluginConfig []byte
	// Module is the path of the .wasm file.
	Module string
	// LogFile receives the plugin's log, one line per message; empty means standard error.
	LogFile string
	// Workers is the number of VMs serving requests in parallel.
	Workers int
	// VMEnv are environment variables of every VM (Envoy's vm_config.environment_variables),
	// such as GOGC and GOMEMLIMIT.
	VMEnv [][2]string
}

// Command is what the command line asks for.
type Command struct {
	// Validate is set for `meshwaf validate FILE`: check FILE and exit.
	Validate bool
	Options  Options
}

const usageText = `meshwaf serves the meshwaf Proxy-Wasm module locally, through the same ABI Envoy uses.

Usage:
  meshwaf [flags]                  serve on --listen, forwarding to --upstream
  meshwaf validate [flags] FILE    check a plugin configuration file against the module: JSON,
                                   or Istio WasmPlugin/TrafficExtension manifests (YAML)

Exit status:
  0  serving ended by Ctrl-C or SIGTERM; validate: every configuration in FILE is valid; -h
  1  serving could not start (the plugin refused the configuration, the port is taken, ...)
     or failed; validate: a configuration is not valid, or FILE or the module cannot be read
  2  a usage mistake: an unknown flag, a bad flag value, a missing or extra argument

Flags:
`

// ParseArgs parses the command line (without the program name). Mistakes are reported as
// errors wrapping ErrUsage. For -h it writes the usage text to help and returns flag.ErrHelp:
// help that was asked for is the command's output, not an error (Main gives it stdout, so
// `meshwaf -h | less` works).
func ParseArgs(args []string, help io.Writer) (Command, error) {
	var cmd Command
	if len(args) > 0 && args[0] == "validate" {
		cmd.Validate = true
		args = args[1:]
	}
	fs := flag.NewFlagSet("meshwaf", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	o := &cmd.Options
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:8080", "`address` to serve on")
	fs.StringVar(&o.Upstream, "upstream", "", "upstream `URL` (default: a built-in echo server on a random loopback port)")
	fs.StringVar(&o.ConfigFile, "config", "", "plugin configuration JSON `file` (default: full CRS at PL1, SecRuleEngine On)")
	fs.StringVar(&o.Module, "module", DefaultModule, "Proxy-Wasm module `path`")
	fs.StringVar(&o.LogFile, "log-file", "", "append the plugin's log to `file`, one line per message (default: standard error)")
	fs.IntVar(&o.Workers, "workers", 1, "VMs serving requests in parallel (Envoy: one per worker thread); each loads the rules")
	fs.Func("vm-env", "`KEY=VALUE` in every VM's environment, as Envoy's vm_config.environment_variables (repeatable; e.g. GOGC=100)", func(kv string) error {
		k, v, err := wasmhost.ParseEnv(kv)
		if err != nil {
			return err
		}
		o.VMEnv = append(o.VMEnv, [2]string{k, v})
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(help, usageText)
			fs.SetOutput(help)
			fs.PrintDefaults()
			return cmd, err
		}
		return cmd, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	rest := fs.Args()
	switch {
	case cmd.Validate && len(rest) != 1:
		return cmd, fmt.Errorf("%w: validate takes one configuration file, got %d arguments", ErrUsage, len(rest))
	case cmd.Validate:
		if o.ConfigFile != "" && o.ConfigFile != rest[0] {
			return cmd, fmt.Errorf("%w: validate: give the file either as argument or as --config, not both", ErrUsage)
		}
		o.ConfigFile = rest[0]
	case len(rest) > 0:
		return cmd, fmt.Errorf("%w: unexpected argument %q (flags start with --; to check a file: meshwaf validate FILE)", ErrUsage, rest[0])
	}
	if err := o.check(); err != nil {
		return cmd, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return cmd, nil
}

// check validates the flag values that need no I/O.
func (o *Options) check() error {
	if _, port, err := net.SplitHostPort(o.Listen); err != nil || port == "" {
		return fmt.Errorf("--listen %q: want host:port, e.g. 127.0.0.1:8080", o.Listen)
	}
	if o.Upstream != "" {
		u, err := url.Parse(o.Upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--upstream %q: want http://host[:port] or https://host[:port]", o.Upstream)
		}
	}
	if o.Workers < 1 {
		return fmt.Errorf("--workers %d: need at least 1", o.Workers)
	}
	if o.Module == "" {
		return errors.New("--module: empty path")
	}
	return nil
}

// LoadPluginConfig reads the configuration file (or takes the default): a plugin
// configuration JSON object, or an Istio manifest holding one (see readPluginConfigs). A
// syntax error is reported with its line and column before the plugin is loaded; the plugin
// validates the meaning (directives, keys) when it starts. Serving takes one configuration:
// a file of several manifests is for validate.
func (o *Options) LoadPluginConfig() error {
	configs, _, err := o.loadPluginConfigs()
	if err != nil {
		return err
	}
	if len(configs) != 1 {
		names := make([]string, len(configs))
		for i, c := range configs {
			names[i] = c.Name
		}
		return fmt.Errorf("plugin configuration %s holds %d (%s): serving takes one; meshwaf validate checks them all",
			o.ConfigFile, len(configs), strings.Join(names, ", "))
	}
	o.PluginConfig = configs[0].JSON
	return nil
}

// loadPluginConfigs reads every plugin configuration of the configuration file, or the
// default, and the manifests it skipped.
func (o *Options) loadPluginConfigs() ([]PluginConfig, []string, error) {
	if o.ConfigFile == "" {
		return []PluginConfig{{JSON: []byte(DefaultPluginConfig)}}, nil, nil
	}
	data, err := os.ReadFile(o.ConfigFile)
	if err != nil {
		return nil, nil, fmt.Errorf("plugin configuration: %w", err)
	}
	configs, skipped, err := readPluginConfigs(data)
	if err != nil {
		return nil, nil, fmt.Errorf("plugin configuration %s: %w", o.ConfigFile, err)
	}
	return configs, skipped, nil
}

// checkJSONObject reports whether data is exactly one JSON object, naming the line and column
// of a syntax error.
func checkJSONObject(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var obj map[string]json.RawMessage
	if err := dec.Decode(&obj); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			line, col := position(data, syn.Offset)
			return fmt.Errorf("line %d, column %d: %w", line, col, err)
		case errors.As(err, &typ):
			return fmt.Errorf("want a JSON object, found %s", typ.Value)
		case errors.Is(err, io.EOF):
			return errors.New("empty file: want a JSON object")
		}
		return err
	}
	if obj == nil {
		return errors.New("want a JSON object, found null")
	}
	if dec.More() {
		line, col := position(data, dec.InputOffset())
		return fmt.Errorf("line %d, column %d: data after the JSON object", line, col)
	}
	return nil
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col == 0 {
		col = 1
	}
	return line, col
}

// describeUpstream is how the startup banner names the upstream.
func describeUpstream(u string, builtin bool) string {
	if builtin {
		return u + " (built-in echo server)"
	}
	return strings.TrimSuffix(u, "/")
}
