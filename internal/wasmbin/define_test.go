package wasmbin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// callerModule is a hand-assembled module whose functions refer to its two imports in every
// way a function index can appear: env.a (func 0) and env.b (func 1) return i32; "sum"
// (func 2) is a() + b(), calling b with a padded 5-byte index as Go's linker writes them;
// "indirect" (func 3) calls table[0], which an element segment sets to env.a; "a" re-exports
// the import; a name section names all four.
func callerModule(extraCode ...byte) []byte {
	var m []byte
	m = append(m, header...)
	sec := func(id byte, body ...byte) {
		m = append(m, id)
		m = appendU32(m, uint32(len(body)))
		m = append(m, body...)
	}
	name := func(s string) []byte { return append(appendU32(nil, uint32(len(s))), s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	body := func(code ...byte) []byte { return append(appendU32(nil, uint32(len(code))), code...) }

	sec(1, 0x01, 0x60, 0x00, 0x01, 0x7f) // type 0: func() -> i32
	sec(2, cat([]byte{0x02}, name("env"), name("a"), []byte{0x00, 0x00}, name("env"), name("b"), []byte{0x00, 0x00})...)
	sec(3, 0x02, 0x00, 0x00)       // funcs 2, 3: type 0
	sec(4, 0x01, 0x70, 0x00, 0x01) // table: funcref, min 1
	sec(7, cat([]byte{0x03}, name("sum"), []byte{0x00, 0x02}, name("indirect"), []byte{0x00, 0x03}, name("a"), []byte{0x00, 0x00})...)
	sec(9, 0x01, 0x00, 0x41, 0x00, 0x0b, 0x01, 0x00) // elem: table 0 at i32.const 0: [func 0]
	sum := append([]byte{0x00, 0x10, 0x00, 0x10, 0x81, 0x80, 0x80, 0x80, 0x00, 0x6a}, extraCode...)
	sum = append(sum, 0x0b) // no locals; call 0; call 1 (padded); i32.add; …; end
	sec(10, cat([]byte{0x02}, body(sum...), body(0x00, 0x41, 0x00, 0x11, 0x00, 0x00, 0x0b))...)
	names := cat([]byte{0x04}, []byte{0x00}, name("a"), []byte{0x01}, name("b"), []byte{0x02}, name("sum"), []byte{0x03}, name("indirect"))
	sec(0, cat(name("name"), []byte{0x01}, appendU32(nil, uint32(len(names))), names)...)
	return m
}

// return40 is the code of a function returning 40.
var return40 = []byte{0x00, 0x41, 40, 0x0b}

func defineA(imp Import, _ FuncType) ([]byte, error) {
	if imp.Name == "a" {
		return return40, nil
	}
	return nil, nil
}

func TestDefineImports(t *testing.T) {
	ctx := context.Background()
	out, err := DefineImports(callerModule(), defineA)
	if err != nil {
		t.Fatal(err)
	}
	imports, err := Imports(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(imports) != 1 || imports[0] != (Import{"env", "b", KindFunc}) {
		t.Fatalf("imports after DefineImports = %v, want only env.b", imports)
	}

	r := wazero.NewRuntime(ctx)
	defer r.Close(ctx)
	_, err = r.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func() int32 { return 2 }).Export("b").Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	compiled, err := r.CompileModule(ctx, out) // validates every renumbered index and type
	if err != nil {
		t.Fatal(err)
	}
	mod, err := r.InstantiateModule(ctx, compiled, wazero.NewModuleConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, export string
		want         uint64
		wantFuncName string // from the name section, which must follow the renumbering
	}{
		{"direct_calls_reach_defined_function_and_kept_import", "sum", 42, "sum"},
		{"table_entry_points_at_defined_function", "indirect", 40, "indirect"},
		{"export_of_the_import_points_at_defined_function", "a", 40, "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := mod.ExportedFunction(tc.export).Call(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res[0] != tc.want {
				t.Errorf("%s() = %d, want %d", tc.export, res[0], tc.want)
			}
			if got := compiled.ExportedFunctions()[tc.export].Name(); got != tc.wantFuncName {
				t.Errorf("name of %s = %q, want %q", tc.export, got, tc.wantFuncName)
			}
		})
	}
}

func TestDefineImportsKeepsPaddedCallWidth(t *testing.T) {
	in := callerModule()
	out, err := DefineImports(in, defineA)
	if err != nil {
		t.Fatal(err)
	}
	// The padded call of b (index 1 → 0) keeps its five bytes.
	if !bytes.Contains(out, []byte{0x10, 0x80, 0x80, 0x80, 0x80, 0x00, 0x6a}) {
		t.Errorf("padded call operand not kept at its width")
	}
}

func TestDefineImportsNoChange(t *testing.T) {
	in := callerModule()
	out, err := DefineImports(in, func(Import, FuncType) ([]byte, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(in, out) {
		t.Error("a module with no import to define changed")
	}
}

func TestDefineImportsErrors(t *testing.T) {
	errRefused := errors.New("refused")
	for _, tc := range []struct {
		name    string
		module  []byte
		body    func(Import, FuncType) ([]byte, error)
		wantErr string
	}{
		{"callback_error_is_returned", callerModule(), func(Import, FuncType) ([]byte, error) { return nil, errRefused }, "refused"},
		{"unknown_instruction_fails_instead_of_skipping_indices", callerModule(0xfd, 0x0c), defineA, "unsupported opcode"},
		{"not_wasm", []byte("nope"), defineA, ErrNotWasm.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DefineImports(tc.module, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestDefineImportsPassesTheImportsType(t *testing.T) {
	var got FuncType
	_, err := DefineImports(callerModule(), func(imp Import, ft FuncType) ([]byte, error) {
		if imp.Name == "a" {
			got = ft
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Params) != 0 || len(got.Results) != 1 || got.Results[0] != I32 {
		t.Errorf("type of env.a = %+v, want () -> i32", got)
	}
}
