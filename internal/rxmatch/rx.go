// Package rxmatch is Coraza's @rx operator, changed in three ways that keep every verdict:
//
//   - A regular expression is checked (parsed) when its rule loads but compiled on its first
//     use. At paranoia level 1 most CRS rules of levels 2 to 4 never run, and with the
//     prefilter below most expressions never run on benign traffic, so a VM loads faster and
//     keeps less: Wasm linear memory never gives back what compiling allocated.
//   - Each expression gets, when one can be found, the set of phrases every match contains
//     (found in its syntax tree at load); an input holding none of them is answered "no
//     match" without running the expression.
//   - Whether an expression matches is decided by a lazily built DFA (internal/lazydfa), one
//     table lookup per byte; Go's regexp runs only to take the captures of an input known to
//     match, or where the DFA's bounded cache does not suffice.
//
// Matching and captures are stock Coraza's: the pattern wrapped in (?sm), Go's regexp, TX.0 to
// TX.8 captured; a pattern matching bytes that are not UTF-8 runs on rsc.io/binaryregexp, as
// stock. The differential tests hold both to stock Coraza's answers.
package rxmatch

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"rsc.io/binaryregexp"

	"github.com/meshwaf/meshwaf/internal/lazydfa"
	"github.com/meshwaf/meshwaf/internal/phrasematch"
)

// maxCaptures is how many groups (the whole match first) a capturing rule gets, as stock.
const maxCaptures = 9

// Register replaces Coraza's @rx for every WAF built afterwards in the process.
func Register() { plugins.RegisterOperator("rx", New) }

// Operator is one rule's @rx.
type Operator struct{ *expr }

var _ plugintypes.Operator = Operator{}

// expr is one pattern, shared by every rule that uses it.
type expr struct {
	pattern string
	// phrases are the phrases every match contains; nil when none were found. Their
	// dictionary is built on first use, like the expression: at paranoia level 1 the
	// expressions of levels 2 to 4 never run.
	phrases    []string
	filterOnce sync.Once
	filter     *phrasematch.Dictionary
	once       sync.Once
	re         *regexp.Regexp
	dfaOnce    sync.Once
	dfa        *lazydfa.DFA
}

// New is the @rx operator factory, for a caller that registers it wrapped.
func New(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	if matchesNonUTF8(o.Arguments) {
		return newBinaryRX(o)
	}
	pattern := "(?sm)" + o.Arguments
	v, err := memoize(o.Memoizer, "rxmatch:"+pattern, func() (any, error) {
		phrases, err := analyse(pattern)
		if err != nil {
			return nil, err
		}
		return &expr{pattern: pattern, phrases: phrases}, nil
	})
	if err != nil {
		return nil, err
	}
	return Operator{v.(*expr)}, nil
}

// analyse checks that pattern parses and returns its prefilter phrases (nil for none),
// from the generated analyses for a CRS expression, else by parsing it.
func analyse(pattern string) ([]string, error) { return analyseWith(embedded(), pattern) }

func analyseWith(a analyses, pattern string) ([]string, error) {
	if phrases, known, err := a.phrases(pattern); known || err != nil {
		return phrases, err
	}
	tree, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	return requiredPhrases(tree), nil
}

// regexp compiles the expression on first use. It parsed when the rule loaded (or when
// the CRS analyses were generated), and a pattern Go parses, Go compiles.
func (e *expr) regexp() *regexp.Regexp {
	e.once.Do(func() { e.re = regexp.MustCompile(e.pattern) })
	return e.re
}

// prefilter builds the dictionary of the expression's phrases on first use; nil means every
// input runs the expression. The analysis keeps phrases of at least two bytes, which New
// accepts, but should it refuse them, the expression would simply run unfiltered.
func (e *expr) prefilter() *phrasematch.Dictionary {
	if e.phrases == nil {
		return nil
	}
	e.filterOnce.Do(func() { e.filter, _ = phrasematch.New(e.phrases) })
	return e.filter
}

// matcher builds the expression's DFA on first use, as regexp compiles.
func (e *expr) matcher() *lazydfa.DFA {
	e.dfaOnce.Do(func() {
		d, err := lazydfa.New(e.pattern, e.regexp)
		if err != nil {
			panic(fmt.Sprintf("rxmatch: %q parsed at load but not now: %v", e.pattern, err))
		}
		e.dfa = d
	})
	return e.dfa
}

// Evaluate reports whether value matches; a capturing rule gets the match and its groups.
func (o Operator) Evaluate(tx plugintypes.TransactionState, value string) bool {
	if f := o.prefilter(); f != nil && !f.Contains(value) {
		return false
	}
	// Most evaluations do not match, and the DFA answers those without the regexp; captures
	// are computed only for an input known to match.
	matched := o.matcher().MatchString(value)
	if !matched || !tx.Capturing() {
		return matched
	}
	m := o.regexp().FindStringSubmatchIndex(value)
	if m == nil {
		return false
	}
	for i := 0; i < len(m)/2 && i < maxCaptures; i++ {
		if m[2*i] >= 0 {
			tx.CaptureField(i, value[m[2*i]:m[2*i+1]])
		} else {
			tx.CaptureField(i, "")
		}
	}
	return true
}

// binaryRX is @rx for patterns that match bytes outside UTF-8, on rsc.io/binaryregexp, as
// stock Coraza runs them: the pattern as written (no (?sm)), compiled at load.
type binaryRX struct{ re *binaryregexp.Regexp }

func newBinaryRX(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	v, err := memoize(o.Memoizer, "rxmatch-binary:"+o.Arguments, func() (any, error) {
		return binaryregexp.Compile(o.Arguments)
	})
	if err != nil {
		return nil, err
	}
	return binaryRX{v.(*binaryregexp.Regexp)}, nil
}

func (o binaryRX) Evaluate(tx plugintypes.TransactionState, value string) bool {
	// As in Operator.Evaluate: captures only for an input known to match.
	matched := o.re.MatchString(value)
	if !matched || !tx.Capturing() {
		return matched
	}
	m := o.re.FindStringSubmatch(value)
	if m == nil {
		return false
	}
	for i := 0; i < len(m) && i < maxCaptures; i++ {
		tx.CaptureField(i, m[i])
	}
	return true
}

// matchesNonUTF8 reports whether a pattern, with its \xHH and \x{H…} escapes read as the
// bytes or characters they stand for, is not valid UTF-8: such a pattern is meant to match
// raw bytes. Like stock Coraza, it reads every backslash-x as an escape, even after an
// escaped backslash, and a braced escape by its first two hex digits.
func matchesNonUTF8(pattern string) bool {
	decoded := make([]byte, 0, len(pattern))
	for i := 0; i < len(pattern); i++ {
		if pattern[i] != '\\' || i+3 >= len(pattern) || pattern[i+1] != 'x' {
			decoded = append(decoded, pattern[i])
			continue
		}
		hex, skip := pattern[i+2:i+4], 3
		if pattern[i+2] == '{' {
			end := -1
			for j := i + 3; j < len(pattern); j++ {
				if pattern[j] == '}' {
					end = j
					break
				}
			}
			if end < 0 || end-i < 5 { // \x{} and \x{H} are not byte escapes
				decoded = append(decoded, pattern[i])
				continue
			}
			hex, skip = pattern[i+3:i+5], end-i
		}
		b, err := strconv.ParseUint(hex, 16, 8)
		if err != nil {
			decoded = append(decoded, pattern[i])
			continue
		}
		decoded = append(decoded, byte(b))
		i += skip
	}
	return !utf8.Valid(decoded)
}

func memoize(m plugintypes.Memoizer, key string, build func() (any, error)) (any, error) {
	if m == nil {
		return build()
	}
	return m.Do(key, build)
}
