package wasmbuild

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/internal/hostfuncs"
	"github.com/meshwaf/meshwaf/internal/wasmbin"
)

// Every module the build produces must load on cpp-host #427 (Envoy 1.33+): it may import only
// #427's WASI functions, except poll_oneoff (whose ENOSYS there makes Go's runtime throw), and
// the Proxy-Wasm host functions.
func TestBuiltModulesImportOnlyCppHost427AndProxyWasm(t *testing.T) {
	forEachBuiltModule(t, func(t *testing.T, wasm []byte) {
		imports, err := wasmbin.Imports(wasm)
		if err != nil {
			t.Fatal(err)
		}
		wasi427, proxyWasm := hostfuncs.WASI427(), hostfuncs.ProxyWasm()
		var names []string
		for _, imp := range imports {
			names = append(names, imp.Module+"."+imp.Name)
			ok := imp.Kind == wasmbin.KindFunc
			switch imp.Module {
			case hostfuncs.WASIModule:
				ok = ok && imp.Name != "poll_oneoff" && slices.Contains(wasi427, imp.Name)
			case hostfuncs.ProxyWasmModule:
				ok = ok && slices.Contains(proxyWasm, imp.Name)
			default:
				ok = false
			}
			if !ok {
				t.Errorf("imports %s.%s (%s): outside cpp-host #427's WASI set and the Proxy-Wasm host functions", imp.Module, imp.Name, imp.Kind)
			}
		}
		slices.Sort(names)
		t.Logf("%d imports: %s", len(names), strings.Join(slices.Compact(names), " "))
	})
}

// abiExports are the guest exports of Proxy-Wasm ABI 0.2.1 that Envoy looks up (docs/abi.md),
// with the reactor's entry point and its memory.
var abiExports = map[string]wasmbin.Kind{
	"_initialize":                 wasmbin.KindFunc,
	"memory":                      wasmbin.KindMemory,
	"proxy_abi_version_0_2_1":     wasmbin.KindFunc,
	"proxy_on_memory_allocate":    wasmbin.KindFunc,
	"proxy_on_vm_start":           wasmbin.KindFunc,
	"proxy_on_configure":          wasmbin.KindFunc,
	"proxy_on_context_create":     wasmbin.KindFunc,
	"proxy_on_request_headers":    wasmbin.KindFunc,
	"proxy_on_request_body":       wasmbin.KindFunc,
	"proxy_on_request_trailers":   wasmbin.KindFunc,
	"proxy_on_response_headers":   wasmbin.KindFunc,
	"proxy_on_response_body":      wasmbin.KindFunc,
	"proxy_on_response_trailers":  wasmbin.KindFunc,
	"proxy_on_log":                wasmbin.KindFunc,
	"proxy_on_done":               wasmbin.KindFunc,
	"proxy_on_delete":             wasmbin.KindFunc,
	"proxy_on_tick":               wasmbin.KindFunc,
	"proxy_on_queue_ready":        wasmbin.KindFunc,
	"proxy_on_http_call_response": wasmbin.KindFunc,
}

// Every module the build produces is a reactor speaking ABI 0.2.1: Envoy calls _initialize
// (cpp-host runs it for reactors), checks the version marker, and finds each callback by name
// (a callback it does not find is silently never called, so a missing one would lose e.g.
// ticks or stream ends without an error). A _start would make hosts treat it as a command.
func TestBuiltModulesExportTheABI(t *testing.T) {
	forEachBuiltModule(t, func(t *testing.T, wasm []byte) {
		exports, err := wasmbin.Exports(wasm)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]wasmbin.Kind{}
		for _, e := range exports {
			got[e.Name] = e.Kind
		}
		for name, kind := range abiExports {
			if k, ok := got[name]; !ok {
				t.Errorf("does not export %s", name)
			} else if k != kind {
				t.Errorf("exports %s as a %s, want a %s", name, k, kind)
			}
		}
		if _, ok := got["_start"]; ok {
			t.Error("exports _start: a command module, not a reactor")
		}
	})
}

// forEachBuiltModule runs check, as a subtest, on each module the project builds: the WAF
// plugin and the ABI test plugin, as the build makes them.
func forEachBuiltModule(t *testing.T, check func(t *testing.T, wasm []byte)) {
	for _, tc := range []struct{ name, pkg string }{
		{"waf_plugin", "github.com/meshwaf/meshwaf"},
		{"abi_test_plugin", "github.com/meshwaf/meshwaf/internal/abitest/testplugin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() {
				t.Skip("skipping: builds the module (-short)")
			}
			wasm, err := os.ReadFile(ForTest(t, tc.pkg))
			if err != nil {
				t.Fatal(err)
			}
			check(t, wasm)
		})
	}
}

func TestPostLink(t *testing.T) {
	const i32 = 0x7f
	for _, tc := range []struct {
		name        string
		imports     []string
		results     []byte // of every import's type
		wantImports []string
		wantErr     string
	}{
		{"keeps_cpphost427_and_proxy_wasm_imports", []string{"wasi_snapshot_preview1.fd_write", "env.proxy_log"}, []byte{i32},
			[]string{"wasi_snapshot_preview1.fd_write", "env.proxy_log"}, ""},
		{"defines_poll_oneoff", []string{"wasi_snapshot_preview1.poll_oneoff", "wasi_snapshot_preview1.fd_write"}, []byte{i32},
			[]string{"wasi_snapshot_preview1.fd_write"}, ""},
		{"defines_imports_outside_cpphost427", []string{"wasi_snapshot_preview1.fd_pread", "wasi_snapshot_preview1.sock_accept", "env.proxy_log"}, []byte{i32},
			[]string{"env.proxy_log"}, ""},
		{"refuses_a_wasi_function_without_errno", []string{"wasi_snapshot_preview1.fd_pread"}, nil, nil, "no errno result"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := postLink(moduleImporting(tc.imports, tc.results))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			imports, err := wasmbin.Imports(out)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, imp := range imports {
				got = append(got, imp.Module+"."+imp.Name)
			}
			if !slices.Equal(got, tc.wantImports) {
				t.Errorf("imports after postLink = %v, want %v", got, tc.wantImports)
			}
		})
	}
}

// moduleImporting is a module importing each "module.name" with type
// (i32 i32 i32 i32) -> results, plus one function that calls them all.
func moduleImporting(imports []string, results []byte) []byte {
	var m []byte
	m = append(m, 0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00)
	sec := func(id byte, body ...byte) {
		m = append(m, id, byte(len(body))) // every section here is < 128 bytes
		m = append(m, body...)
	}
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	sec(1, cat([]byte{0x02, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, byte(len(results))}, results, []byte{0x60, 0x00, 0x00})...)
	imp := []byte{byte(len(imports))}
	code := []byte{0x00}
	for i, s := range imports {
		mod, fn, _ := strings.Cut(s, ".")
		imp = cat(imp, name(mod), name(fn), []byte{0x00, 0x00})
		code = append(code, 0x41, 0, 0x41, 0, 0x41, 0, 0x41, 0, 0x10, byte(i))
		if len(results) > 0 {
			code = append(code, 0x1a) // drop
		}
	}
	code = append(code, 0x0b)
	sec(2, imp...)
	sec(3, 0x01, 0x01)
	sec(5, 0x01, 0x00, 0x01)
	sec(10, cat([]byte{0x01, byte(len(code))}, code)...)
	return m
}
