package wasmbin

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// tinyModule is a hand-assembled module: it imports env.hit and exports one function twice,
// as _initialize and as keep; the function calls env.hit. A custom section at the end must
// survive rewriting unchanged.
func tinyModule() []byte {
	var m []byte
	m = append(m, header...)
	sec := func(id byte, body ...byte) {
		m = append(m, id)
		m = appendU32(m, uint32(len(body)))
		m = append(m, body...)
	}
	name := func(s string) []byte { return append(appendU32(nil, uint32(len(s))), s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	sec(1, 0x01, 0x60, 0x00, 0x00)                                             // type 0: func() -> ()
	sec(2, cat([]byte{0x01}, name("env"), name("hit"), []byte{0x00, 0x00})...) // import env.hit: type 0
	sec(3, 0x01, 0x00)                                                         // func 1: type 0
	sec(7, cat([]byte{0x02}, name("_initialize"), []byte{0x00, 0x01}, name("keep"), []byte{0x00, 0x01})...)
	sec(10, 0x01, 0x04, 0x00, 0x10, 0x00, 0x0b) // body: no locals; call 0; end
	sec(0, cat(name("meshwaf.note"), []byte("kept as is"))...)
	return m
}

func TestExportsAndImports(t *testing.T) {
	exports, err := Exports(tinyModule())
	if err != nil {
		t.Fatal(err)
	}
	want := []Export{{"_initialize", KindFunc, 1}, {"keep", KindFunc, 1}}
	if len(exports) != len(want) || exports[0] != want[0] || exports[1] != want[1] {
		t.Errorf("Exports = %v, want %v", exports, want)
	}
	imports, err := Imports(tinyModule())
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) != 1 || imports[0] != (Import{"env", "hit", KindFunc}) {
		t.Errorf("Imports = %v, want [env.hit func]", imports)
	}
}

func TestRenameExport(t *testing.T) {
	for _, tc := range []struct {
		name, to string
		growth   int // bytes the module grows by
	}{
		{"shorter_name", "_start", -5},
		{"same_length", "_reinitial_", 0},
		// A 200-byte name needs a 2-byte LEB128 length, and pushes the export section past
		// 127 bytes, so the section size needs one too: 189 + 1 + 1.
		{"section_size_grows_a_leb_byte", strings.Repeat("x", 200), 191},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tinyModule()
			orig := bytes.Clone(in)
			out, err := RenameExport(in, "_initialize", tc.to)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(in, orig) {
				t.Error("RenameExport modified its input")
			}
			exports, err := Exports(out)
			if err != nil {
				t.Fatalf("re-reading the result: %v", err)
			}
			if len(exports) != 2 || exports[0] != (Export{tc.to, KindFunc, 1}) || exports[1] != (Export{"keep", KindFunc, 1}) {
				t.Errorf("exports after rename = %v", exports)
			}
			if !bytes.HasSuffix(out, []byte("meshwaf.note"+"kept as is")) {
				t.Error("custom section after the export section was not copied unchanged")
			}
			if got := len(out) - len(in); got != tc.growth {
				t.Errorf("module grew by %d bytes, want %d", got, tc.growth)
			}
		})
	}
}

// TestRenamedStartRuns checks the point of the helper: a runtime that calls _start (as wazero
// does by default, and so the Proxy-Wasm Go SDK's emulator) runs the reactor's initialiser.
func TestRenamedStartRuns(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		module   func(t *testing.T) []byte
		wantHits int
	}{
		{"reactor_as_is_is_not_initialised", func(*testing.T) []byte { return tinyModule() }, 0},
		{"renamed_to_start_is_initialised", func(t *testing.T) []byte {
			out, err := RenameExport(tinyModule(), "_initialize", "_start")
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
			defer r.Close(ctx)
			hits := 0
			_, err := r.NewHostModuleBuilder("env").NewFunctionBuilder().
				WithFunc(func(context.Context, api.Module) { hits++ }).Export("hit").Instantiate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Instantiate(ctx, tc.module(t)); err != nil {
				t.Fatalf("instantiating: %v", err)
			}
			if hits != tc.wantHits {
				t.Errorf("initialiser ran %d times, want %d", hits, tc.wantHits)
			}
		})
	}
}

func TestRenameExportErrors(t *testing.T) {
	truncated := tinyModule()
	truncated = truncated[:len(truncated)-3]
	for _, tc := range []struct {
		name, from, to, wantErr string
		module                  []byte
	}{
		{"not_wasm", "_initialize", "_start", "not a WebAssembly", []byte("\x7fELF\x02\x01\x01\x00")},
		{"empty_input", "_initialize", "_start", "not a WebAssembly", nil},
		{"missing_export", "_start", "main", `exports no "_start"`, tinyModule()},
		{"target_name_taken", "_initialize", "keep", `"keep" is already exported`, tinyModule()},
		{"truncated_section", "_initialize", "_start", "unexpected end", truncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := RenameExport(tc.module, tc.from, tc.to)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestLEB128(t *testing.T) {
	for _, v := range []uint32{0, 1, 127, 128, 300, 1<<21 - 1, 1 << 21, 1<<32 - 1} {
		r := reader{buf: appendU32(nil, v)}
		got, err := r.u32()
		if err != nil || got != v || !r.done() {
			t.Errorf("round trip of %d: got %d, %v (done %t)", v, got, err, r.done())
		}
	}
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"too_long", []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}},
		{"overflows_32_bits", []byte{0xff, 0xff, 0xff, 0xff, 0x1f}},
		{"truncated", []byte{0x80}},
	} {
		r := reader{buf: tc.in}
		if _, err := r.u32(); err == nil {
			t.Errorf("%s: no error for % x", tc.name, tc.in)
		}
	}
}
