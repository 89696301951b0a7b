// Package wasmbin reads and rewrites the few parts of a WebAssembly binary that meshwaf's
// tooling needs: the import and export sections. It exists so a compiled module can be shown to
// hosts that expect a different shape than the one the Go toolchain emits — the Proxy-Wasm Go
// SDK's test emulator calls `_start` where a Go reactor exports `_initialize` — and so tests can
// check which host functions a module needs before a host rejects it.
//
// It understands the binary format of the WebAssembly core specification (section 5): a magic
// number and version, then sections of one id byte and a LEB128 size. Sections it does not
// rewrite are copied byte for byte.
package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
)

// Kind is the kind of an import or export (the spec's externtype).
type Kind byte

// The kinds of imports and exports.
const (
	KindFunc   Kind = 0
	KindTable  Kind = 1
	KindMemory Kind = 2
	KindGlobal Kind = 3
	KindTag    Kind = 4 // exception-handling proposal
)

func (k Kind) String() string {
	switch k {
	case KindFunc:
		return "func"
	case KindTable:
		return "table"
	case KindMemory:
		return "memory"
	case KindGlobal:
		return "global"
	case KindTag:
		return "tag"
	}
	return fmt.Sprintf("kind(%d)", byte(k))
}

// Export is one entry of the export section.
type Export struct {
	Name  string
	Kind  Kind
	Index uint32
}

// Import is one entry of the import section; the type description is not kept.
type Import struct {
	Module, Name string
	Kind         Kind
}

const (
	sectionImport = 2
	sectionExport = 7
)

var header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// ErrNotWasm is returned for input that does not start with the WebAssembly magic and version 1.
var ErrNotWasm = errors.New("wasmbin: not a WebAssembly 1.0 binary module")

type section struct {
	id   byte
	body []byte // the section's contents, without id and size
}

// sections splits a module into its sections without interpreting them.
func sections(module []byte) ([]section, error) {
	if len(module) < len(header) || !bytes.Equal(module[:len(header)], header) {
		return nil, ErrNotWasm
	}
	r := reader{buf: module, off: len(header)}
	var out []section
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("wasmbin: size of section %d: %w", id, err)
		}
		body, err := r.bytes(int(size))
		if err != nil {
			return nil, fmt.Errorf("wasmbin: section %d: %w", id, err)
		}
		out = append(out, section{id: id, body: body})
	}
	return out, nil
}

// Exports lists a module's exports in their order in the binary.
func Exports(module []byte) ([]Export, error) {
	secs, err := sections(module)
	if err != nil {
		return nil, err
	}
	for _, s := range secs {
		if s.id == sectionExport {
			return decodeExports(s.body)
		}
	}
	return nil, nil
}

// Imports lists a module's imports in their order in the binary.
func Imports(module []byte) ([]Import, error) {
	secs, err := sections(module)
	if err != nil {
		return nil, err
	}
	for _, s := range secs {
		if s.id == sectionImport {
			return decodeImports(s.body)
		}
	}
	return nil, nil
}

// RenameExport returns a copy of module whose export from is named to. The export section is
// re-encoded, so the new name may have any length. It fails when from is not exported or to
// already is (export names must be unique).
func RenameExport(module []byte, from, to string) ([]byte, error) {
	secs, err := sections(module)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(module) + len(to))
	out.Write(header)
	renamed := false
	for _, s := range secs {
		body := s.body
		if s.id == sectionExport {
			exports, err := decodeExports(s.body)
			if err != nil {
				return nil, err
			}
			for i, e := range exports {
				switch e.Name {
				case to:
					return nil, fmt.Errorf("wasmbin: renaming export %q: %q is already exported", from, to)
				case from:
					exports[i].Name = to
					renamed = true
				}
			}
			body = encodeExports(exports)
		}
		out.WriteByte(s.id)
		out.Write(appendU32(nil, uint32(len(body))))
		out.Write(body)
	}
	if !renamed {
		return nil, fmt.Errorf("wasmbin: module exports no %q", from)
	}
	return out.Bytes(), nil
}

func decodeExports(body []byte) ([]Export, error) {
	r := reader{buf: body}
	n, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("wasmbin: export count: %w", err)
	}
	exports := make([]Export, 0, min(n, uint32(len(body))))
	for i := range n {
		name, err := r.name()
		if err != nil {
			return nil, fmt.Errorf("wasmbin: export %d name: %w", i, err)
		}
		kind, err := r.byte()
		if err != nil {
			return nil, fmt.Errorf("wasmbin: export %q kind: %w", name, err)
		}
		idx, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("wasmbin: export %q index: %w", name, err)
		}
		exports = append(exports, Export{Name: name, Kind: Kind(kind), Index: idx})
	}
	if !r.done() {
		return nil, fmt.Errorf("wasmbin: %d trailing bytes in the export section", len(r.buf)-r.off)
	}
	return exports, nil
}

func encodeExports(exports []Export) []byte {
	b := appendU32(nil, uint32(len(exports)))
	for _, e := range exports {
		b = appendU32(b, uint32(len(e.Name)))
		b = append(b, e.Name...)
		b = append(b, byte(e.Kind))
		b = appendU32(b, e.Index)
	}
	return b
}

func decodeImports(body []byte) ([]Import, error) {
	entries, err := importEntries(body)
	if err != nil {
		return nil, err
	}
	imports := make([]Import, len(entries))
	for i, e := range entries {
		imports[i] = e.imp
	}
	return imports, nil
}
