package wasmbin

import (
	"bytes"
	"fmt"
	"slices"
)

// ValType is a WebAssembly value type (numeric ones; Go emits no others).
type ValType byte

// The numeric value types.
const (
	I32 ValType = 0x7f
	I64 ValType = 0x7e
	F32 ValType = 0x7d
	F64 ValType = 0x7c
)

// FuncType is a function signature from the type section.
type FuncType struct {
	Params, Results []ValType
}

// DefineImports returns a copy of module in which some function imports are replaced by
// functions defined in the module itself. body is asked for every function import; it returns
// nil to keep the import, or the code of the replacement: the code-section encoding of a
// function without its size prefix (local declarations, then instructions ending with 0x0b),
// which must match the import's type; or an error, which DefineImports returns.
//
// An import occupies a function index below every defined function, so removing one shifts
// the indices of every later function. DefineImports therefore renumbers every function index
// in the module: call, return_call and ref.func operands in code and constant expressions,
// element segments, exports, the start function and the "name" section. The replacements are
// appended after the module's own functions and keep the import's entry in the name section.
// It fails, changing nothing, on instructions it does not know (SIMD, threads, GC), so a
// module it cannot renumber completely is never returned half-rewritten.
func DefineImports(module []byte, body func(Import, FuncType) ([]byte, error)) ([]byte, error) {
	secs, err := sections(module)
	if err != nil {
		return nil, err
	}
	find := func(id byte) *section {
		for i := range secs {
			if secs[i].id == id {
				return &secs[i]
			}
		}
		return nil
	}
	var types []FuncType
	if s := find(sectionType); s != nil {
		if types, err = decodeTypes(s.body); err != nil {
			return nil, err
		}
	}
	imp := find(sectionImport)
	if imp == nil {
		return slices.Clone(module), nil
	}
	entries, err := importEntries(imp.body)
	if err != nil {
		return nil, err
	}

	// Decide, then number: kept function imports first, then the module's functions, then
	// the replacements.
	var (
		nFuncImports uint32
		removed      []replaced
		keptEntries  [][]byte
	)
	for _, e := range entries {
		if e.imp.Kind != KindFunc {
			keptEntries = append(keptEntries, e.raw)
			continue
		}
		idx := nFuncImports
		nFuncImports++
		if int(e.typeIdx) >= len(types) {
			return nil, fmt.Errorf("wasmbin: import %s.%s has type %d of %d", e.imp.Module, e.imp.Name, e.typeIdx, len(types))
		}
		code, err := body(e.imp, types[e.typeIdx])
		if err != nil {
			return nil, fmt.Errorf("wasmbin: import %s.%s: %w", e.imp.Module, e.imp.Name, err)
		}
		if code != nil {
			removed = append(removed, replaced{oldIdx: idx, typeIdx: e.typeIdx, code: code})
			continue
		}
		keptEntries = append(keptEntries, e.raw)
	}
	if len(removed) == 0 {
		return slices.Clone(module), nil
	}
	fn, code := find(sectionFunction), find(sectionCode)
	if fn == nil || code == nil {
		return nil, fmt.Errorf("wasmbin: module defines no functions to add the replacements to")
	}
	fnTypes, err := decodeU32Vec(fn.body)
	if err != nil {
		return nil, fmt.Errorf("wasmbin: function section: %w", err)
	}
	nDefined := uint32(len(fnTypes))
	nKept := nFuncImports - uint32(len(removed))
	newIdx := make([]uint32, nFuncImports+nDefined) // old function index → new
	r := 0
	for old := range nFuncImports {
		if r < len(removed) && removed[r].oldIdx == old {
			newIdx[old] = nKept + nDefined + uint32(r)
			r++
			continue
		}
		newIdx[old] = old - uint32(r)
	}
	for d := range nDefined {
		newIdx[nFuncImports+d] = nKept + d
	}
	remap := func(old uint32) (uint32, error) {
		if old >= uint32(len(newIdx)) {
			return 0, fmt.Errorf("function index %d out of range (%d functions)", old, len(newIdx))
		}
		return newIdx[old], nil
	}

	var out bytes.Buffer
	out.Grow(len(module) + 1024)
	out.Write(header)
	for _, s := range secs {
		b := s.body
		var err error
		switch s.id {
		case sectionImport:
			b = appendU32(nil, uint32(len(keptEntries)))
			for _, e := range keptEntries {
				b = append(b, e...)
			}
		case sectionFunction:
			for _, rp := range removed {
				fnTypes = append(fnTypes, rp.typeIdx)
			}
			b = appendU32Vec(nil, fnTypes)
		case sectionCode:
			b, err = rewriteCode(s.body, remap, removed)
		case sectionGlobal:
			b, err = rewriteGlobals(s.body, remap)
		case sectionExport:
			b, err = rewriteExports(s.body, remap)
		case sectionStart:
			b, err = rewriteStart(s.body, remap)
		case sectionElement:
			b, err = rewriteElements(s.body, remap)
		case sectionCustom:
			b, err = rewriteNames(s.body, remap)
		}
		if err != nil {
			return nil, fmt.Errorf("wasmbin: section %d: %w", s.id, err)
		}
		out.WriteByte(s.id)
		out.Write(appendU32(nil, uint32(len(b))))
		out.Write(b)
	}
	return out.Bytes(), nil
}

type replaced struct {
	oldIdx, typeIdx uint32
	code            []byte
}

const (
	sectionCustom   = 0
	sectionType     = 1
	sectionFunction = 3
	sectionGlobal   = 6
	sectionStart    = 8
	sectionElement  = 9
	sectionCode     = 10
)

type importEntry struct {
	imp     Import
	typeIdx uint32 // for functions
	raw     []byte // the whole entry as encoded
}

func importEntries(body []byte) ([]importEntry, error) {
	r := reader{buf: body}
	n, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("wasmbin: import count: %w", err)
	}
	var out []importEntry
	for i := range n {
		start := r.off
		mod, err := r.name()
		if err != nil {
			return nil, fmt.Errorf("wasmbin: import %d module: %w", i, err)
		}
		name, err := r.name()
		if err != nil {
			return nil, fmt.Errorf("wasmbin: import %d name: %w", i, err)
		}
		kind, err := r.byte()
		if err != nil {
			return nil, fmt.Errorf("wasmbin: import %s.%s kind: %w", mod, name, err)
		}
		e := importEntry{imp: Import{Module: mod, Name: name, Kind: Kind(kind)}}
		if Kind(kind) == KindFunc {
			e.typeIdx, err = r.u32()
		} else {
			err = r.skipImportDesc(Kind(kind))
		}
		if err != nil {
			return nil, fmt.Errorf("wasmbin: import %s.%s: %w", mod, name, err)
		}
		e.raw = body[start:r.off]
		out = append(out, e)
	}
	if !r.done() {
		return nil, fmt.Errorf("wasmbin: %d trailing bytes in the import section", len(r.buf)-r.off)
	}
	return out, nil
}

func decodeTypes(body []byte) ([]FuncType, error) {
	r := reader{buf: body}
	n, err := r.u32()
	if err != nil {
		return nil, fmt.Errorf("wasmbin: type count: %w", err)
	}
	types := make([]FuncType, 0, min(n, uint32(len(body))))
	vec := func() ([]ValType, error) {
		k, err := r.u32()
		if err != nil {
			return nil, err
		}
		b, err := r.bytes(int(k))
		if err != nil {
			return nil, err
		}
		vt := make([]ValType, k)
		for i, c := range b {
			switch ValType(c) {
			case I32, I64, F32, F64:
				vt[i] = ValType(c)
			default:
				return nil, fmt.Errorf("value type %#x is not numeric", c)
			}
		}
		return vt, nil
	}
	for i := range n {
		form, err := r.byte()
		if err != nil {
			return nil, err
		}
		if form != 0x60 {
			return nil, fmt.Errorf("wasmbin: type %d: form %#x is not a plain function type", i, form)
		}
		var ft FuncType
		if ft.Params, err = vec(); err != nil {
			return nil, fmt.Errorf("wasmbin: type %d params: %w", i, err)
		}
		if ft.Results, err = vec(); err != nil {
			return nil, fmt.Errorf("wasmbin: type %d results: %w", i, err)
		}
		types = append(types, ft)
	}
	return types, nil
}

func decodeU32Vec(body []byte) ([]uint32, error) {
	r := reader{buf: body}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	v := make([]uint32, 0, min(n, uint32(len(body))))
	for range n {
		x, err := r.u32()
		if err != nil {
			return nil, err
		}
		v = append(v, x)
	}
	if !r.done() {
		return nil, fmt.Errorf("%d trailing bytes", len(r.buf)-r.off)
	}
	return v, nil
}

func appendU32Vec(b []byte, v []uint32) []byte {
	b = appendU32(b, uint32(len(v)))
	for _, x := range v {
		b = appendU32(b, x)
	}
	return b
}

// rewriteCode renumbers the calls in every function body and appends the replacements.
func rewriteCode(body []byte, remap func(uint32) (uint32, error), add []replaced) ([]byte, error) {
	r := reader{buf: body}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	out := appendU32(make([]byte, 0, len(body)+256), n+uint32(len(add)))
	var fb []byte
	for i := range n {
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("body %d size: %w", i, err)
		}
		code, err := r.bytes(int(size))
		if err != nil {
			return nil, fmt.Errorf("body %d: %w", i, err)
		}
		fb, err = rewriteBody(fb[:0], code, remap)
		if err != nil {
			return nil, fmt.Errorf("body %d: %w", i, err)
		}
		out = appendU32(out, uint32(len(fb)))
		out = append(out, fb...)
	}
	if !r.done() {
		return nil, fmt.Errorf("%d trailing bytes", len(r.buf)-r.off)
	}
	for _, a := range add {
		out = appendU32(out, uint32(len(a.code)))
		out = append(out, a.code...)
	}
	return out, nil
}

// rewriteBody copies one function body (locals and expression), renumbering function indices.
func rewriteBody(out, code []byte, remap func(uint32) (uint32, error)) ([]byte, error) {
	r := reader{buf: code}
	groups, err := r.u32()
	if err != nil {
		return nil, err
	}
	for range groups {
		if _, err := r.u32(); err != nil {
			return nil, err
		}
		if err := r.skipValType(); err != nil {
			return nil, err
		}
	}
	w := exprWriter{r: r, out: out, remap: remap}
	w.out = append(w.out, code[:r.off]...)
	w.last = r.off
	if err := w.expr(); err != nil {
		return nil, err
	}
	if !w.r.done() {
		return nil, fmt.Errorf("%d bytes after the end of the body", len(code)-w.r.off)
	}
	return w.flush(), nil
}

// exprWriter walks instructions, copying them and renumbering function-index operands.
type exprWriter struct {
	r     reader
	out   []byte
	last  int // r.buf[last:r.off] is read but not yet copied
	remap func(uint32) (uint32, error)
}

func (w *exprWriter) flush() []byte {
	w.out = append(w.out, w.r.buf[w.last:w.r.off]...)
	w.last = w.r.off
	return w.out
}

// funcIdx rewrites the function index at the reader, keeping its encoded width when it fits
// (Go's linker pads call operands to 5 bytes) so bodies keep their size.
func (w *exprWriter) funcIdx() error {
	w.flush()
	start := w.r.off
	old, err := w.r.u32()
	if err != nil {
		return err
	}
	idx, err := w.remap(old)
	if err != nil {
		return err
	}
	w.out = appendU32Width(w.out, idx, w.r.off-start)
	w.last = w.r.off
	return nil
}

// expr walks one expression up to and including its final end.
func (w *exprWriter) expr() error {
	r := &w.r
	depth := 0
	for {
		at := r.off
		op, err := r.byte()
		if err != nil {
			return err
		}
		if err := w.instr(op); err != nil {
			return fmt.Errorf("instruction %#x at offset %d: %w", op, at, err)
		}
		switch op {
		case 0x02, 0x03, 0x04, 0x06: // block, loop, if, try
			depth++
		case 0x0b: // end
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

// instr reads the immediates of op (already read).
func (w *exprWriter) instr(op byte) error {
	r := &w.r
	u32 := func(k int) error {
		for range k {
			if _, err := r.u32(); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case op == 0x10 || op == 0x12 || op == 0xd2: // call, return_call, ref.func
		return w.funcIdx()
	case op <= 0x01, op == 0x05, op == 0x0a, op == 0x0b, op == 0x0f, op == 0x19, op == 0x1a, op == 0x1b,
		op >= 0x45 && op <= 0xc4, op == 0xd1, op == 0xd3, op == 0xd5:
		return nil
	case op >= 0x02 && op <= 0x04, op == 0x06: // block, loop, if, try: block type
		return r.skipBlockType()
	case op == 0x07, op == 0x08, op == 0x09, op == 0x0c, op == 0x0d, op == 0x14, op == 0x15, op == 0x18,
		op >= 0x20 && op <= 0x26, op == 0x3f, op == 0x40, op == 0xd4, op == 0xd6:
		return u32(1)
	case op == 0x0e: // br_table
		n, err := r.u32()
		if err != nil {
			return err
		}
		return u32(int(n) + 1)
	case op == 0x11, op == 0x13: // call_indirect, return_call_indirect: type, table
		return u32(2)
	case op == 0x1c: // select with types
		n, err := r.u32()
		if err != nil {
			return err
		}
		for range n {
			if err := r.skipValType(); err != nil {
				return err
			}
		}
		return nil
	case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
		return r.skipMemarg()
	case op == 0x41:
		return r.skipSLEB(5)
	case op == 0x42:
		return r.skipSLEB(10)
	case op == 0x43:
		_, err := r.bytes(4)
		return err
	case op == 0x44:
		_, err := r.bytes(8)
		return err
	case op == 0xd0: // ref.null heaptype
		return r.skipHeapType()
	case op == 0xfc:
		sub, err := r.u32()
		if err != nil {
			return err
		}
		switch {
		case sub <= 7: // saturating truncations
			return nil
		case sub == 8, sub == 10, sub == 12, sub == 14: // memory.init, memory.copy, table.init, table.copy
			return u32(2)
		case sub <= 17: // data.drop, memory.fill, elem.drop, table.grow/size/fill
			return u32(1)
		}
		return fmt.Errorf("unknown 0xfc instruction %d", sub)
	}
	return fmt.Errorf("unsupported opcode")
}

func rewriteExports(body []byte, remap func(uint32) (uint32, error)) ([]byte, error) {
	exports, err := decodeExports(body)
	if err != nil {
		return nil, err
	}
	for i, e := range exports {
		if e.Kind == KindFunc {
			if exports[i].Index, err = remap(e.Index); err != nil {
				return nil, fmt.Errorf("export %q: %w", e.Name, err)
			}
		}
	}
	return encodeExports(exports), nil
}

func rewriteStart(body []byte, remap func(uint32) (uint32, error)) ([]byte, error) {
	r := reader{buf: body}
	idx, err := r.u32()
	if err != nil {
		return nil, err
	}
	if idx, err = remap(idx); err != nil {
		return nil, err
	}
	return appendU32(nil, idx), nil
}

func rewriteGlobals(body []byte, remap func(uint32) (uint32, error)) ([]byte, error) {
	w := exprWriter{r: reader{buf: body}, remap: remap}
	n, err := w.r.u32()
	if err != nil {
		return nil, err
	}
	for i := range n {
		if err := w.r.skipValType(); err != nil {
			return nil, fmt.Errorf("global %d: %w", i, err)
		}
		if _, err := w.r.byte(); err != nil { // mutability
			return nil, fmt.Errorf("global %d: %w", i, err)
		}
		if err := w.expr(); err != nil {
			return nil, fmt.Errorf("global %d: %w", i, err)
		}
	}
	return w.flush(), nil
}

// rewriteElements renumbers element segments in all eight encodings of the spec (5.5.12).
func rewriteElements(body []byte, remap func(uint32) (uint32, error)) ([]byte, error) {
	w := exprWriter{r: reader{buf: body}, remap: remap}
	r := &w.r
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	for i := range n {
		flags, err := r.u32()
		if err != nil {
			return nil, err
		}
		if flags > 7 {
			return nil, fmt.Errorf("element segment %d: unknown flags %d", i, flags)
		}
		if flags&2 != 0 && flags&1 == 0 { // explicit table index
			if _, err := r.u32(); err != nil {
				return nil, err
			}
		}
		if flags&1 == 0 { // active: offset expression
			if err := w.expr(); err != nil {
				return nil, fmt.Errorf("element segment %d offset: %w", i, err)
			}
		}
		if flags&3 != 0 { // element kind (0x00) or reference type
			if flags&4 != 0 {
				err = r.skipValType()
			} else {
				_, err = r.byte()
			}
			if err != nil {
				return nil, err
			}
		}
		count, err := r.u32()
		if err != nil {
			return nil, err
		}
		for range count {
			if flags&4 != 0 {
				err = w.expr()
			} else {
				err = w.funcIdx()
			}
			if err != nil {
				return nil, fmt.Errorf("element segment %d: %w", i, err)
			}
		}
	}
	return w.flush(), nil
}

// rewriteNames renumbers the function names (subsection 1) and local names (subsection 2) of
// the "name" custom section; other custom sections are returned unchanged.
func rewriteNames(body []byte, remap func(uint32) (uint32, error)) ([]byte, error) {
	r := reader{buf: body}
	if name, err := r.name(); err != nil || name != "name" {
		return body, nil
	}
	out := slices.Clone(body[:r.off])
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		sub, err := r.bytes(int(size))
		if err != nil {
			return nil, err
		}
		if id == 1 || id == 2 {
			if sub, err = renumberNameMap(sub, id == 2, remap); err != nil {
				return nil, fmt.Errorf("name subsection %d: %w", id, err)
			}
		}
		out = append(out, id)
		out = appendU32(out, uint32(len(sub)))
		out = append(out, sub...)
	}
	return out, nil
}

// renumberNameMap renumbers the keys of a name map (or, if indirect, of an indirect name map,
// whose inner maps are copied as they are) and sorts it again, as the spec requires
// increasing indices.
func renumberNameMap(b []byte, indirect bool, remap func(uint32) (uint32, error)) ([]byte, error) {
	r := reader{buf: b}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	type entry struct {
		idx   uint32
		value []byte
	}
	entries := make([]entry, 0, min(n, uint32(len(b))))
	for range n {
		old, err := r.u32()
		if err != nil {
			return nil, err
		}
		start := r.off
		if indirect {
			err = r.skipNameMap()
		} else {
			_, err = r.name()
		}
		if err != nil {
			return nil, err
		}
		idx, err := remap(old)
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{idx, b[start:r.off]})
	}
	if !r.done() {
		return nil, fmt.Errorf("%d trailing bytes", len(r.buf)-r.off)
	}
	slices.SortStableFunc(entries, func(a, b entry) int { return int(a.idx) - int(b.idx) })
	out := appendU32(make([]byte, 0, len(b)+16), n)
	for _, e := range entries {
		out = appendU32(out, e.idx)
		out = append(out, e.value...)
	}
	return out, nil
}
