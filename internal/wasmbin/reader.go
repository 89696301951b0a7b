package wasmbin

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

var errShort = errors.New("unexpected end of data")

// reader walks a byte slice with the spec's primitive encodings.
type reader struct {
	buf []byte
	off int
}

func (r *reader) done() bool { return r.off >= len(r.buf) }

func (r *reader) byte() (byte, error) {
	if r.done() {
		return 0, errShort
	}
	b := r.buf[r.off]
	r.off++
	return b, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.buf)-r.off {
		return nil, errShort
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b, nil
}

// u32 reads an unsigned LEB128 number of at most 32 bits (at most 5 bytes, the unused bits of
// the last one zero), as the spec requires.
func (r *reader) u32() (uint32, error) {
	v, err := r.uleb(32)
	return uint32(v), err
}

func (r *reader) uleb(bits uint) (uint64, error) {
	var v uint64
	maxBytes := (bits + 6) / 7
	for i := uint(0); i < maxBytes; i++ {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		shift := 7 * i
		if i == maxBytes-1 && bits-shift < 7 && b>>(bits-shift) != 0 {
			return 0, fmt.Errorf("LEB128 value overflows %d bits", bits)
		}
		v |= uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("LEB128 value longer than %d bytes", maxBytes)
}

// sleb skips a signed LEB128 number of at most 33 bits (heap types).
func (r *reader) sleb33() error {
	for i := 0; i < 5; i++ {
		b, err := r.byte()
		if err != nil {
			return err
		}
		if b&0x80 == 0 {
			return nil
		}
	}
	return errors.New("signed LEB128 value longer than 5 bytes")
}

// name reads a vec(byte) that must be UTF-8.
func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	if err != nil {
		return "", err
	}
	if !utf8.Valid(b) {
		return "", errors.New("name is not valid UTF-8")
	}
	return string(b), nil
}

// skipImportDesc skips the type part of an import, whose length depends on its kind.
func (r *reader) skipImportDesc(k Kind) error {
	switch k {
	case KindFunc:
		_, err := r.u32() // type index
		return err
	case KindTable:
		if err := r.skipRefType(); err != nil {
			return err
		}
		return r.skipLimits()
	case KindMemory:
		return r.skipLimits()
	case KindGlobal:
		if err := r.skipValType(); err != nil {
			return err
		}
		_, err := r.byte() // mutability
		return err
	case KindTag:
		if _, err := r.byte(); err != nil { // attribute, 0 = exception
			return err
		}
		_, err := r.u32() // type index
		return err
	}
	return fmt.Errorf("unknown import kind %d", byte(k))
}

// skipRefType skips a reference type: one byte, or (GC proposal) 0x63/0x64 and a heap type.
func (r *reader) skipRefType() error {
	b, err := r.byte()
	if err != nil {
		return err
	}
	if b == 0x63 || b == 0x64 {
		return r.sleb33()
	}
	return nil
}

func (r *reader) skipValType() error { return r.skipRefType() }

// skipLimits skips table or memory limits: a flags byte (bit 0: has max, bit 1: shared,
// bit 2: 64-bit, bit 3: custom page size), min, optional max, optional page-size log2.
func (r *reader) skipLimits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if flags&^0x0f != 0 {
		return fmt.Errorf("unknown limits flags %#x", flags)
	}
	if _, err := r.uleb(64); err != nil {
		return err
	}
	if flags&0x01 != 0 {
		if _, err := r.uleb(64); err != nil {
			return err
		}
	}
	if flags&0x08 != 0 {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	return nil
}

// appendU32 appends v as unsigned LEB128 in its shortest form.
func appendU32(b []byte, v uint32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// skipSLEB skips a signed LEB128 number of at most maxBytes bytes.
func (r *reader) skipSLEB(maxBytes int) error {
	for range maxBytes {
		b, err := r.byte()
		if err != nil {
			return err
		}
		if b&0x80 == 0 {
			return nil
		}
	}
	return fmt.Errorf("signed LEB128 value longer than %d bytes", maxBytes)
}

// skipBlockType skips a block type: 0x40 (empty), a value type, or a type index (s33).
func (r *reader) skipBlockType() error {
	if r.done() {
		return errShort
	}
	switch b := r.buf[r.off]; {
	case b == 0x40 || b >= 0x6f && b <= 0x7f:
		r.off++
		return nil
	case b == 0x63 || b == 0x64:
		return r.skipRefType()
	}
	return r.sleb33()
}

// skipHeapType skips a heap type: an abstract one (one byte) or a type index (s33).
func (r *reader) skipHeapType() error { return r.sleb33() }

// skipMemarg skips a load's or store's alignment (bit 6: a memory index follows) and offset.
func (r *reader) skipMemarg() error {
	align, err := r.u32()
	if err != nil {
		return err
	}
	if align&0x40 != 0 {
		if _, err := r.u32(); err != nil {
			return err
		}
	}
	_, err = r.uleb(64)
	return err
}

// skipNameMap skips a name map: a vector of (index, name).
func (r *reader) skipNameMap() error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	for range n {
		if _, err := r.u32(); err != nil {
			return err
		}
		if _, err := r.name(); err != nil {
			return err
		}
	}
	return nil
}

// appendU32Width appends v as unsigned LEB128 padded to width bytes when it fits in them
// (padding with continuation bytes is valid LEB128), else in its shortest form.
func appendU32Width(b []byte, v uint32, width int) []byte {
	short := appendU32(nil, v)
	if len(short) >= width {
		return append(b, short...)
	}
	for i := 0; i < width-1; i++ {
		b = append(b, byte(v&0x7f)|0x80)
		v >>= 7
	}
	return append(b, byte(v&0x7f))
}
