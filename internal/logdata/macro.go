package logdata

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/corazawaf/coraza/v3/collection"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
	"github.com/corazawaf/coraza/v3/types/variables"
)

// memoLimit bounds the expansion a Macro keeps for reuse: a value such as MATCHED_VAR can be
// a whole request body, which must not stay reachable from the rule set after the request.
const memoLimit = 256

// stackTokens is how many token values Expand gathers without allocating; the CRS's logdata
// texts have at most six tokens.
const stackTokens = 8

// Macro is a logdata text with %{VARIABLE.key} references, expanded as Coraza's
// macro.Macro expands it (same grammar, same errors, same text, same debug-log warnings).
// Coraza's builds the text in a strings.Builder, allocating at each growth (three times for
// the CRS's usual text); this one allocates the text at its exact size, plus the box that
// keeps it for reuse when it is short, and nothing when the values give the text of the
// previous expansion: the common case, since Coraza expands a rule's logdata at the start of
// every evaluation, matched or not, while MATCHED_VAR and TX.0 rarely change between rules.
//
// It is safe for concurrent use (natively, concurrent transactions contend on last; a Wasm
// VM runs one at a time). The kept text is request data (up to memoLimit bytes of values
// such as MATCHED_VAR) that stays reachable until the next expansion of the same text, in
// the same VM whose heap holds the request's other data until it is reused.
type Macro struct {
	original string
	tokens   []token
	// last is the most recent expansion no longer than memoLimit.
	last atomic.Pointer[string]
}

// token is literal text (variable Unknown) or a reference to a variable and, for keyed
// collections, a key (lower case, as Coraza's collections keep theirs).
type token struct {
	text     string // the literal, or the reference as written: what is logged when it is unset
	variable variables.RuleVariable
	key      string
}

var errEmptyData = errors.New("empty data")

// Parse compiles data. Its errors are Coraza's macro.NewMacro's, word for word, so a bad
// logdata is reported as it would be without meshwaf.
func Parse(data string) (*Macro, error) {
	if data == "" {
		return nil, errEmptyData
	}
	m := &Macro{original: data}
	var cur strings.Builder
	inRef := false
	for i := 0; i < len(data); i++ {
		c := data[i]
		if c == '%' && i+1 < len(data) && data[i+1] == '{' {
			// A reference starts; whatever came before, even an unfinished reference, is text.
			if cur.Len() > 0 {
				m.tokens = append(m.tokens, token{text: cur.String(), variable: variables.Unknown})
				cur.Reset()
			}
			inRef = true
			i++
			continue
		}
		if !inRef {
			cur.WriteByte(c)
			continue
		}
		if c == '}' {
			inRef = false
			if data[i-1] == '.' {
				return nil, errors.New("empty variable name")
			}
			ref := cur.String()
			name, key, _ := strings.Cut(ref, ".")
			v, err := variables.Parse(name)
			if err != nil {
				return nil, fmt.Errorf("unknown variable %q", name)
			}
			m.tokens = append(m.tokens, token{text: ref, variable: v, key: strings.ToLower(key)})
			cur.Reset()
			continue
		}
		if !validRefChar(c) {
			return nil, fmt.Errorf("malformed variable starting with %q", "%{"+cur.String())
		}
		cur.WriteByte(c)
		if i+1 == len(data) {
			return nil, errors.New("malformed variable: no closing braces")
		}
	}
	if cur.Len() > 0 {
		m.tokens = append(m.tokens, token{text: cur.String(), variable: variables.Unknown})
	}
	return m, nil
}

func validRefChar(c byte) bool {
	return c == '[' || c == ']' || c == '.' || c == '_' || c == '-' ||
		('0' <= c && c <= '9') || ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z')
}

// String returns the text as written in the rule.
func (m *Macro) String() string { return m.original }

// Expand returns the text with each reference replaced by the variable's first value, or
// left as written (with a warning in the debug log) when the variable has none.
func (m *Macro) Expand(tx plugintypes.TransactionState) string {
	if len(m.tokens) == 1 {
		return m.tokens[0].value(tx)
	}
	var stack [stackTokens]string
	values := stack[:0]
	if len(m.tokens) > stackTokens {
		values = make([]string, 0, len(m.tokens))
	}
	n := 0
	for _, t := range m.tokens {
		v := t.value(tx)
		values = append(values, v)
		n += len(v)
	}
	if last := m.last.Load(); last != nil && joins(*last, values) {
		return *last
	}
	var b strings.Builder
	b.Grow(n)
	for _, v := range values {
		b.WriteString(v)
	}
	s := b.String()
	if n <= memoLimit {
		m.keep(s)
	}
	return s
}

// keep stores s for reuse. Only its parameter moves to the heap, so an expansion too long to
// keep costs one allocation, not two.
func (m *Macro) keep(s string) { m.last.Store(&s) }

// joins reports whether s is the concatenation of parts.
func joins(s string, parts []string) bool {
	for _, p := range parts {
		if len(p) > len(s) || s[:len(p)] != p {
			return false
		}
		s = s[len(p):]
	}
	return s == ""
}

// value is what Coraza's macro expansion gives for the token.
func (t token) value(tx plugintypes.TransactionState) string {
	if t.variable == variables.Unknown {
		return t.text
	}
	switch col := tx.Collection(t.variable).(type) {
	case collection.Keyed:
		if vs := col.Get(t.key); len(vs) > 0 {
			return vs[0]
		}
	case collection.Single:
		return col.Get()
	default:
		if ms := col.FindAll(); len(ms) > 0 {
			return ms[0].Value()
		}
	}
	tx.DebugLogger().Warn().Str("variable", t.variable.Name()).Str("key", t.key).
		Msg("key not found in collection, returning the original text")
	return t.text
}
