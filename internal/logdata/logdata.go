// Package logdata replaces Coraza's logdata action by one whose text expands without the
// allocations of Coraza's macro expansion.
//
// Coraza 3.8.1 expands every rule's logdata at the start of every evaluation of the rule
// (for %{rule.logdata}), matched or not: on a benign GET through the CRS that was about a
// quarter of the engine's allocations, and allocation is what Wasm engines are slowest at
// (docs/performance.md). The action is Coraza's in all else: same argument, same errors,
// same text logged.
package logdata

import (
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/corazawaf/coraza/v3/experimental/plugins/macro"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

// Action is the factory to register as "logdata" (plugins.RegisterAction).
func Action() plugintypes.Action { return action{} }

type action struct{}

var errMissingArguments = errors.New("missing arguments") // Coraza's wording for an empty argument

// Init parses data and sets it as the rule's logdata. Rules with the same text share one
// Macro, so the expansion one rule leaves is reused by the next while the variables stay
// the same.
func (action) Init(r plugintypes.RuleMetadata, data string) error {
	if data == "" {
		return errMissingArguments
	}
	m, err := shared(data)
	if err != nil {
		return err
	}
	return setLogData(r, m)
}

// Evaluate does nothing: Coraza expands logdata itself, after the rule's other actions.
func (action) Evaluate(plugintypes.RuleMetadata, plugintypes.TransactionState) {}

func (action) Type() plugintypes.ActionType { return plugintypes.ActionTypeNondisruptive }

var (
	macrosMu sync.Mutex
	// macros holds one Macro per distinct text compiled in the process: a handful for the
	// CRS, never more than the configurations loaded have.
	macros = map[string]*Macro{}
)

func shared(data string) (*Macro, error) {
	macrosMu.Lock()
	defer macrosMu.Unlock()
	if m, ok := macros[data]; ok {
		return m, nil
	}
	m, err := Parse(data)
	if err != nil {
		return nil, err
	}
	macros[data] = m
	return m, nil
}

var macroType = reflect.TypeFor[macro.Macro]()

// setLogData stores m in the rule's LogData field. Coraza's rule type is internal, and its
// own logdata action sets that exported field the same way; a Coraza without it fails the
// rule's load with this error (and TestRuleLogDataIsOurs), never silently logs nothing.
func setLogData(r plugintypes.RuleMetadata, m *Macro) error {
	v := reflect.ValueOf(r)
	if v.Kind() == reflect.Pointer && !v.IsNil() && v.Elem().Kind() == reflect.Struct {
		if f := v.Elem().FieldByName("LogData"); f.IsValid() && f.CanSet() && f.Type() == macroType {
			f.Set(reflect.ValueOf(macro.Macro(m)))
			return nil
		}
	}
	return fmt.Errorf("logdata: %T has no settable LogData field of type macro.Macro: meshwaf's logdata action does not fit this Coraza version", r)
}
