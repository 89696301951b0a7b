//go:build meshwaf_faults

package faultinject

import (
	"errors"
	"strings"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

// OperatorName is the operator's name in SecRule (after the @).
const OperatorName = "meshwafPanic"

func init() { plugins.RegisterOperator(OperatorName, newPanicOperator) }

type panicOperator struct{ trigger string }

func newPanicOperator(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	if o.Arguments == "" {
		return nil, errors.New("@" + OperatorName + " needs the text that triggers it")
	}
	return panicOperator{trigger: o.Arguments}, nil
}

// Evaluate panics inside Coraza's rule evaluation, as a bug in an operator would.
func (p panicOperator) Evaluate(_ plugintypes.TransactionState, value string) bool {
	if strings.Contains(value, p.trigger) {
		panic("faultinject: @" + OperatorName + " triggered by " + p.trigger)
	}
	return false
}
