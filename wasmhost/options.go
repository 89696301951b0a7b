package wasmhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// WASI instantiates the host module(s) that provide wasi_snapshot_preview1 into a runtime.
// The host profiles (WithHostProfile) use it to offer the WASI of a given Envoy release;
// WithWASI replaces it for other hosts.
type WASI func(ctx context.Context, r wazero.Runtime) error

// FullWASI is wazero's complete wasi_snapshot_preview1, whose poll_oneoff sleeps.
func FullWASI(ctx context.Context, r wazero.Runtime) error {
	_, err := wasi_snapshot_preview1.Instantiate(ctx, r)
	return err
}

type moduleConfig struct {
	cacheDir    string
	wasi        WASI
	memoryPages uint32
	profile     *HostProfile // nil: no import check (WithWASI)
	profileErr  error        // a bad HostProfileEnv, reported by Compile unless overridden
}

// Option configures Compile.
type Option func(*moduleConfig)

// WithCacheDir sets the directory of wazero's compilation cache; "" disables the disk cache.
// The default is os.UserCacheDir()/meshwaf/wazero, so a second process skips compilation.
func WithCacheDir(dir string) Option { return func(c *moduleConfig) { c.cacheDir = dir } }

// WithWASI replaces the WASI implementation and turns off the host profile's import check
// (default: the CppHost427 profile, see WithHostProfile).
func WithWASI(w WASI) Option {
	return func(c *moduleConfig) { c.wasi, c.profile, c.profileErr = w, nil, nil }
}

// WithMemoryLimitPages caps each VM's linear memory (64 KiB pages); growing past it fails in
// the guest instead of exhausting the host.
func WithMemoryLimitPages(pages uint32) Option {
	return func(c *moduleConfig) { c.memoryPages = pages }
}

func defaultModuleConfig() moduleConfig {
	var c moduleConfig
	if p, err := profileFromEnv(); err != nil {
		c.profileErr = err
	} else {
		WithHostProfile(p)(&c)
	}
	if dir, err := os.UserCacheDir(); err == nil {
		c.cacheDir = filepath.Join(dir, "meshwaf", "wazero")
	}
	return c
}

type pluginConfig struct {
	name         string
	rootID       string
	pluginConfig []byte
	vmConfig     []byte
	vms          int
	logger       Logger
	logLevel     LogLevel
	bufferLimit  int
	env          [][2]string
}

// PluginOption configures Module.NewPlugin.
type PluginOption func(*pluginConfig)

// WithPluginConfig is the plugin configuration (Envoy's plugin_config / Istio's pluginConfig),
// read by the guest in proxy_on_configure.
func WithPluginConfig(b []byte) PluginOption {
	return func(c *pluginConfig) { c.pluginConfig = append([]byte(nil), b...) }
}

// WithEnv sets an environment variable of every VM of the plugin, as Envoy's
// vm_config.environment_variables.key_values (Istio: WasmPlugin vmConfig.env) does; the Go
// runtime reads GOGC and GOMEMLIMIT from there. VMs get no other environment.
func WithEnv(key, value string) PluginOption {
	return func(c *pluginConfig) { c.env = append(c.env, [2]string{key, value}) }
}

// ParseEnv splits a KEY=VALUE setting for WithEnv, as the runner's --vm-env takes it; the
// value may be empty, the key may not.
func ParseEnv(kv string) (key, value string, err error) {
	key, value, ok := strings.Cut(kv, "=")
	if !ok || key == "" {
		return "", "", fmt.Errorf("%q: want KEY=VALUE", kv)
	}
	return key, value, nil
}

// WithVMConfig is the VM configuration, read by the guest in proxy_on_vm_start.
func WithVMConfig(b []byte) PluginOption {
	return func(c *pluginConfig) { c.vmConfig = append([]byte(nil), b...) }
}

// WithPluginName sets the plugin_name property (default "meshwaf").
func WithPluginName(name string) PluginOption { return func(c *pluginConfig) { c.name = name } }

// WithRootID sets the plugin_root_id property (default "").
func WithRootID(id string) PluginOption { return func(c *pluginConfig) { c.rootID = id } }

// WithVMs sets how many VMs serve the plugin (Envoy: one per worker thread; default 1).
func WithVMs(n int) PluginOption { return func(c *pluginConfig) { c.vms = n } }

// WithLogger receives the plugin's log (default: discarded).
func WithLogger(l Logger) PluginOption { return func(c *pluginConfig) { c.logger = l } }

// WithLogLevel is the level reported by proxy_get_log_level; messages below it are dropped,
// as Envoy drops them (default info, Envoy's default).
func WithLogLevel(l LogLevel) PluginOption { return func(c *pluginConfig) { c.logLevel = l } }

// WithBufferLimit bounds the body a plugin may buffer per direction; past it Envoy answers
// 413 (request) or 500 (response). Default 1 MiB, Envoy's per-connection buffer limit;
// 0 or less means unlimited.
func WithBufferLimit(n int) PluginOption { return func(c *pluginConfig) { c.bufferLimit = n } }

func defaultPluginConfig() pluginConfig {
	return pluginConfig{
		name:        "meshwaf",
		vms:         1,
		logger:      func(LogLevel, string) {},
		logLevel:    LogInfo,
		bufferLimit: 1 << 20,
	}
}
