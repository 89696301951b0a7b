package wasmbuild

import (
	"fmt"
	"os"
	"slices"

	"github.com/meshwaf/meshwaf/internal/hostfuncs"
	"github.com/meshwaf/meshwaf/internal/wasmbin"
)

// postLink makes a module built by the Go toolchain loadable by every Envoy that runs Go
// reactors (cpp-host #427 and later; see docs/older-envoy.md for the why and the safety
// argument). It replaces WASI imports with functions inside the module:
//
//   - poll_oneoff, with cpp-host #533's behaviour: success and zero events. #427 answers
//     ENOSYS, on which Go's runtime throws the first time it sleeps.
//   - every WASI import outside #427's set, with one that returns ENOSYS. The Go linker keeps
//     them because os and net methods stay reachable through interfaces; a proxy module has no
//     preopened directory or socket for them to act on, so the calls that would reach them
//     fail either way.
//
// Imports inside #427's set and the Proxy-Wasm imports are kept.
func postLink(wasm []byte) ([]byte, error) {
	keep := hostfuncs.WASI427()
	return wasmbin.DefineImports(wasm, func(imp wasmbin.Import, t wasmbin.FuncType) ([]byte, error) {
		if imp.Module != hostfuncs.WASIModule {
			return nil, nil
		}
		if imp.Name == "poll_oneoff" {
			want := wasmbin.FuncType{Params: []wasmbin.ValType{wasmbin.I32, wasmbin.I32, wasmbin.I32, wasmbin.I32}, Results: []wasmbin.ValType{wasmbin.I32}}
			if !slices.Equal(t.Params, want.Params) || !slices.Equal(t.Results, want.Results) {
				return nil, fmt.Errorf("unexpected signature %v", t)
			}
			return pollOneoffNoEvents, nil
		}
		if slices.Contains(keep, imp.Name) {
			return nil, nil
		}
		// Every WASI preview 1 function returns an errno, except proc_exit (in #427's set).
		if !slices.Equal(t.Results, []wasmbin.ValType{wasmbin.I32}) {
			return nil, fmt.Errorf("unexpected signature %v: no errno result", t)
		}
		return returnENOSYS, nil
	})
}

// errnoNOSYS is WASI's ENOSYS ("function not supported").
const errnoNOSYS = 52

// pollOneoffNoEvents is poll_oneoff(in, out, nsubscriptions, nevents *u32) errno as cpp-host
// #533 implements it: *nevents = 0, return success.
var pollOneoffNoEvents = []byte{
	0x00,       // no locals
	0x20, 0x03, // local.get 3 (nevents)
	0x41, 0x00, // i32.const 0
	0x36, 0x02, 0x00, // i32.store align=4 offset=0
	0x41, 0x00, // i32.const 0 (errno success)
	0x0b, // end
}

// returnENOSYS is a function that ignores its parameters and returns ENOSYS.
var returnENOSYS = []byte{
	0x00,             // no locals
	0x41, errnoNOSYS, // i32.const 52 (fits one signed LEB128 byte: < 64)
	0x0b, // end
}

func postLinkFile(path string) error {
	wasm, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if wasm, err = postLink(wasm); err != nil {
		return err
	}
	return os.WriteFile(path, wasm, 0o644)
}
