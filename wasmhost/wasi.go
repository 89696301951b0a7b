package wasmhost

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/meshwaf/meshwaf/internal/hostfuncs"
)

// HostProfile is the WASI set and behaviour of one generation of proxy-wasm-cpp-host, the
// Wasm host inside Envoy. A Module compiled under a profile refuses, as Envoy does, a module
// that imports a function the profile lacks, and answers poll_oneoff as that generation does.
// The zero value is the oldest generation that runs Go reactors, the default.
type HostProfile int

const (
	// CppHost427 is cpp-host since PR #427 (Envoy 1.33–1.38, Istio 1.25–1.30): 18 WASI
	// functions; poll_oneoff returns ENOSYS.
	CppHost427 HostProfile = iota
	// CppHost533 is cpp-host since PR #533 (Envoy 1.39+, Istio 1.31+): 45 WASI functions;
	// poll_oneoff returns success with zero events, without sleeping.
	CppHost533
)

// HostProfileEnv names the environment variable that, when set to "427" or "533", changes the
// default profile of Compile, so a whole test suite (or the local runner) can be run against
// either generation without an option threaded through every caller. An explicit
// WithHostProfile or WithWASI wins over it.
const HostProfileEnv = "MESHWAF_HOST_PROFILE"

func (p HostProfile) String() string {
	switch p {
	case CppHost427:
		return "cpp-host #427 (Envoy 1.33-1.38)"
	case CppHost533:
		return "cpp-host #533 (Envoy 1.39+)"
	}
	return fmt.Sprintf("HostProfile(%d)", int(p))
}

// WASIFunctions lists the wasi_snapshot_preview1 functions the profile provides.
func (p HostProfile) WASIFunctions() []string {
	if p == CppHost533 {
		return hostfuncs.WASI533()
	}
	return hostfuncs.WASI427()
}

// WithHostProfile selects the host generation a Module behaves as (default CppHost427, or
// HostProfileEnv's).
func WithHostProfile(p HostProfile) Option {
	return func(c *moduleConfig) {
		c.wasi, c.profile, c.profileErr = p.instantiate, &p, nil
	}
}

// errnoNOSYS is WASI's ENOSYS.
const errnoNOSYS = 52

// instantiate provides wazero's WASI implementation of the profile's functions, with
// poll_oneoff replaced by the generation's. The host module exports wazero's whole set; the
// import check in Compile is what keeps a module to the profile's.
func (p HostProfile) instantiate(ctx context.Context, r wazero.Runtime) error {
	b := r.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	// A later export of the same name replaces the earlier one.
	b.NewFunctionBuilder().
		WithGoModuleFunction(api.GoModuleFunc(p.pollOneoff), []api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}).
		WithParameterNames("in", "out", "nsubscriptions", "result.nevents").
		Export("poll_oneoff")
	_, err := b.Instantiate(ctx)
	return err
}

// pollOneoff is poll_oneoff(in, out, nsubscriptions, nevents) errno. #427 does not implement
// it; #533 reports no events at once, even for a clock subscription ("Go runtime requires
// poll_oneoff to return ESUCCESS").
func (p HostProfile) pollOneoff(_ context.Context, m api.Module, stack []uint64) {
	if p == CppHost427 {
		stack[0] = errnoNOSYS
		return
	}
	if !m.Memory().WriteUint32Le(uint32(stack[3]), 0) {
		stack[0] = 21 // EFAULT
		return
	}
	stack[0] = 0
}

// profileFromEnv is the default profile: HostProfileEnv's, else CppHost427.
func profileFromEnv() (HostProfile, error) {
	switch v := os.Getenv(HostProfileEnv); v {
	case "", "427":
		return CppHost427, nil
	case "533":
		return CppHost533, nil
	default:
		return 0, fmt.Errorf("wasmhost: %s=%q: want 427 or 533", HostProfileEnv, v)
	}
}

// checkImports refuses a module that imports a function the profile's host lacks, with the
// message Envoy logs for it (proxy-wasm-cpp-host, when linking the module).
func (p HostProfile) checkImports(compiled wazero.CompiledModule) error {
	var missing []string
	for _, f := range compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		var set []string
		switch mod {
		case hostfuncs.WASIModule:
			set = p.WASIFunctions()
		case hostfuncs.ProxyWasmModule:
			set = hostfuncs.ProxyWasm()
		}
		if !slices.Contains(set, name) {
			missing = append(missing, mod+"."+name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("wasmhost: Failed to load Wasm module due to a missing import: %s (host profile %s)",
			strings.Join(missing, ", "), p)
	}
	return nil
}
