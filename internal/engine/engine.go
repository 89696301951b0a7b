// Package engine makes Coraza the plugin's engine by registering meshwaf's replacements of
// Coraza operators and actions: @pm on a trie (internal/phrasematch) and @rx compiled on
// first use behind a prefilter (internal/rxmatch), each evaluation a checkpoint that keeps a
// large request's phase within bounded memory (internal/longcall), and the logdata action
// with an expansion that does not allocate on every rule evaluation (internal/logdata). They
// give stock Coraza's verdicts and logs with a fraction of its memory, load time and
// per-request work (figures in docs/performance.md).
//
// Registration is process-wide and applies to rules compiled after it: the plugin registers
// at init, and the benchmark compiles stock Coraza first and registers afterwards, to measure
// both engines natively in one process.
package engine

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"

	"github.com/meshwaf/meshwaf/internal/logdata"
	"github.com/meshwaf/meshwaf/internal/longcall"
	"github.com/meshwaf/meshwaf/internal/phrasematch"
	"github.com/meshwaf/meshwaf/internal/rxmatch"
)

var (
	once       sync.Once
	registered atomic.Bool
)

// Register replaces Coraza's operators and actions by meshwaf's, once per process.
func Register() {
	once.Do(func() {
		plugins.RegisterOperator("pm", longcall.Operator(phrasematch.NewPM))
		plugins.RegisterOperator("pmFromFile", longcall.Operator(phrasematch.NewPMFromFile))
		plugins.RegisterOperator("pmf", longcall.Operator(phrasematch.NewPMFromFile))
		plugins.RegisterOperator("rx", longcall.Operator(rxmatch.New))
		// Built out with coraza.disabled_operators.validateSchema (docs/build.md): it validates
		// against schema files, and a plugin has none to read. A rule using it is refused by name.
		plugins.RegisterOperator("validateSchema", func(plugintypes.OperatorOptions) (plugintypes.Operator, error) {
			return nil, errValidateSchema
		})
		plugins.RegisterAction("logdata", logdata.Action)
		registered.Store(true)
	})
}

// Registered reports whether Register has run: rules compiled from then on use meshwaf's
// operators and actions.
func Registered() bool { return registered.Load() }

var errValidateSchema = errors.New("@validateSchema is not available in meshwaf: it reads schema files, and a Wasm plugin has no files to read (build tag coraza.disabled_operators.validateSchema)")
