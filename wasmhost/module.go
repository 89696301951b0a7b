package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/tetratelabs/wazero"
)

// abiMarker is the export a Proxy-Wasm ABI v0.2.1 module must have.
const abiMarker = "proxy_abi_version_0_2_1"

// Module is a compiled Proxy-Wasm module with the host functions it imports. Compile it once;
// every Plugin made from it instantiates the same compiled code. Safe for concurrent use.
type Module struct {
	runtime  wazero.Runtime
	compiled wazero.CompiledModule
	cache    wazero.CompilationCache
}

// CompileFile reads and compiles a .wasm file; see Compile.
func CompileFile(ctx context.Context, path string, opts ...Option) (*Module, error) {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: read module: %w", err)
	}
	m, err := Compile(ctx, wasm, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return m, nil
}

// Compile compiles a Proxy-Wasm module, using the on-disk compilation cache so that only the
// first process on a machine pays for compiling (about 10 s for the real plugin).
func Compile(ctx context.Context, wasm []byte, opts ...Option) (*Module, error) {
	cfg := defaultModuleConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.profileErr != nil {
		return nil, cfg.profileErr
	}
	rcfg := wazero.NewRuntimeConfig()
	var cache wazero.CompilationCache
	if cfg.cacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.cacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasmhost: compilation cache %s: %w", cfg.cacheDir, err)
		}
		cache = c
		rcfg = rcfg.WithCompilationCache(cache)
	}
	if cfg.memoryPages > 0 {
		rcfg = rcfg.WithMemoryLimitPages(cfg.memoryPages)
	}
	m := &Module{runtime: wazero.NewRuntimeWithConfig(ctx, rcfg), cache: cache}
	fail := func(err error) (*Module, error) {
		return nil, errors.Join(err, m.Close(ctx))
	}
	if cfg.wasi != nil {
		if err := cfg.wasi(ctx, m.runtime); err != nil {
			return fail(fmt.Errorf("wasmhost: instantiate WASI: %w", err))
		}
	}
	if err := instantiateEnv(ctx, m.runtime); err != nil {
		return fail(fmt.Errorf("wasmhost: instantiate env host module: %w", err))
	}
	compiled, err := m.runtime.CompileModule(ctx, wasm)
	if err != nil {
		return fail(fmt.Errorf("wasmhost: compile module: %w", err))
	}
	m.compiled = compiled
	if cfg.profile != nil {
		if err := cfg.profile.checkImports(compiled); err != nil {
			return fail(err)
		}
	}
	if _, ok := compiled.ExportedFunctions()[abiMarker]; !ok {
		return fail(fmt.Errorf("wasmhost: module does not export %s: not a Proxy-Wasm ABI 0.2.1 module", abiMarker))
	}
	return m, nil
}

// Close releases the runtime and every VM instantiated from the module.
func (m *Module) Close(ctx context.Context) error {
	var errs []error
	if m.runtime != nil {
		if err := m.runtime.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("wasmhost: close runtime: %w", err))
		}
	}
	if m.cache != nil {
		if err := m.cache.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("wasmhost: close compilation cache: %w", err))
		}
	}
	return errors.Join(errs...)
}
