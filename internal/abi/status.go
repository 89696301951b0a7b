package abi

import (
	"errors"
	"fmt"
)

// Status is the result code every host call returns.
type Status uint32

const (
	StatusOK                   Status = 0
	StatusNotFound             Status = 1
	StatusBadArgument          Status = 2
	StatusSerializationFailure Status = 3
	StatusParseFailure         Status = 4
	StatusBadExpression        Status = 5
	StatusInvalidMemoryAccess  Status = 6
	StatusEmpty                Status = 7
	StatusCasMismatch          Status = 8
	StatusResultMismatch       Status = 9
	StatusInternalFailure      Status = 10
	StatusBrokenConnection     Status = 11
	StatusUnimplemented        Status = 12
)

// Sentinel errors for the statuses callers branch on; compare with errors.Is.
var (
	ErrNotFound      = errors.New("proxy-wasm: not found")
	ErrBadArgument   = errors.New("proxy-wasm: bad argument")
	ErrEmpty         = errors.New("proxy-wasm: empty")
	ErrUnimplemented = errors.New("proxy-wasm: unimplemented")
)

// statusError turns a host status into a Go error at the edge of the ABI, so the rest of the
// code never sees raw codes.
func statusError(s Status) error {
	switch s {
	case StatusOK:
		return nil
	case StatusNotFound:
		return ErrNotFound
	case StatusBadArgument:
		return ErrBadArgument
	case StatusEmpty:
		return ErrEmpty
	case StatusUnimplemented:
		return ErrUnimplemented
	default:
		return fmt.Errorf("proxy-wasm: host returned status %d", s)
	}
}
