// Package longcall keeps one long host call within bounded memory: Coraza evaluating the
// phase of a large request (a JSON body of hundreds of fields) runs every rule over every
// argument inside a single proxy_on_request_body call.
//
// Two things grow without bound in such a call, and every operator evaluation of ours is a
// checkpoint that stops both:
//
//   - Go's GC cannot finish a cycle. A Wasm reactor runs only the goroutine serving the
//     host's call until that goroutine yields, and the GC's mark workers are other
//     goroutines; a cycle started early in the call marks everything allocated afterwards as
//     live, so the heap (and the linear memory, which never shrinks) takes the call's whole
//     garbage. A checkpoint yields to the scheduler now and then.
//   - Coraza's per-transaction transformation cache keeps every transformed value of the
//     phase: for each argument, each variable and each prefix of each rule's transformation
//     chain. A 650-field JSON body fills it with some 300,000 entries (35 MB natively), and a
//     Go map never shrinks. A checkpoint empties the cache when it holds more than
//     CacheBound entries. The cache saves recomputation, with one exception in Coraza: a
//     single-value variable (MATCHED_VAR) is cached under an empty key, so a later rule
//     transforming it may get the value an earlier rule of the phase cached; after a clear it
//     gets the current value. The CRS never transforms MATCHED_VAR(S) (t:none), and the FTW
//     suite is unchanged; the points where the cache is emptied depend only on the request.
//
// The cache is a field Coraza does not export; it is found by name once per transaction
// type, and TestFindsCorazaTransformationCache fails if a Coraza upgrade renames it.
// Figures in docs/performance.md.
package longcall

import (
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

const (
	// every is how many evaluations pass between checkpoints that act: often enough that a
	// GC cycle finishes within a large phase, rarely enough to cost nothing on small ones.
	every = 64
	// CacheBound is the most transformation-cache entries kept (~1 MB of map): above a
	// benign request's few hundred, far below a large body's hundreds of thousands. Measured
	// against 2,048 and 32,768 in docs/performance.md.
	CacheBound = 8192
)

// counting is the transaction whose evaluations are being counted and how many there were:
// the count starts again with each transaction, so where the cache is emptied depends only
// on the request, never on the traffic before it. (In Wasm one goroutine evaluates at a time;
// natively, transactions evaluated at once restart each other's count, which only makes the
// bound act less often there, where the GC has threads of its own.)
var counting struct {
	sync.Mutex
	tx plugintypes.TransactionState
	n  uint32
}

// Operator wraps an operator factory so that each evaluation of its operators is a
// checkpoint.
func Operator(factory plugintypes.OperatorFactory) plugintypes.OperatorFactory {
	return func(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
		op, err := factory(o)
		if err != nil {
			return nil, err
		}
		return checkpointed{op}, nil
	}
}

type checkpointed struct{ plugintypes.Operator }

func (c checkpointed) Evaluate(tx plugintypes.TransactionState, value string) bool {
	Checkpoint(tx)
	return c.Operator.Evaluate(tx, value)
}

// Checkpoint counts one evaluation in tx; every 64th bounds tx's transformation cache and,
// in Wasm, lets the GC's goroutines run.
func Checkpoint(tx plugintypes.TransactionState) {
	counting.Lock()
	if counting.tx != tx {
		counting.tx, counting.n = tx, 0
	}
	counting.n++
	act := counting.n%every == 0
	counting.Unlock()
	if !act {
		return
	}
	if cache, ok := transformationCache(tx); ok && cache.Len() > CacheBound {
		cache.Clear()
	}
	if runtime.GOARCH == "wasm" {
		runtime.Gosched()
	}
}

// cacheField is where a transaction type keeps its transformation cache.
type cacheField struct {
	txType reflect.Type
	index  int // -1: the type has none
}

var located atomic.Pointer[cacheField]

// transformationCache returns Coraza's transformation cache of tx, a map, if tx has one.
func transformationCache(tx any) (reflect.Value, bool) {
	v := reflect.ValueOf(tx)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	field := located.Load()
	if field == nil || field.txType != v.Type() {
		field = locate(v.Type())
		located.Store(field)
	}
	if field.index < 0 {
		return reflect.Value{}, false
	}
	f := v.Elem().Field(field.index)
	// The field is unexported: reach it through its address to be allowed to clear it.
	return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem(), true
}

func locate(t reflect.Type) *cacheField {
	f, ok := t.Elem().FieldByName("transformationCache")
	if !ok || len(f.Index) != 1 || f.Type.Kind() != reflect.Map {
		return &cacheField{t, -1}
	}
	return &cacheField{t, f.Index[0]}
}
