package rxmatch

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/meshwaf/meshwaf/internal/phrasematch"
)

// maxPhrases bounds the phrases a prefilter holds: an alternation of more than this many
// literals is left without one (the regexp runs on every input).
const maxPhrases = 2048

// minPhraseLen is the shortest phrase worth a prefilter: single bytes occur in most inputs.
const minPhraseLen = 2

// requiredPhrases returns phrases of which every match of re contains at least one, compared
// with ASCII case folding, or nil when it finds no such set worth checking. It errs on the
// side of nil: a phrase set that is too narrow would let a matching input through unexamined.
func requiredPhrases(re *syntax.Regexp) []string {
	set, ok := required(re)
	if !ok || len(set) == 0 {
		return nil
	}
	// set is always a fresh slice (exact and required build new ones), so it is rewritten in place.
	for i, s := range set {
		p := phrase(s)
		if len(p) < minPhraseLen {
			return nil
		}
		set[i] = phrasematch.FoldString(p) // the parser upper-cases folded literals; matching folds anyway
	}
	slices.Sort(set)
	return slices.Compact(set)
}

// required is the phrase set of one node: ok false means the node can match without any
// phrase we know of (for example the empty string, or any character).
func required(re *syntax.Regexp) (set []string, ok bool) {
	if set, ok := exact(re); ok {
		return set, true
	}
	switch re.Op {
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
		return nil, false
	case syntax.OpConcat:
		// Every part of a concatenation matches, and consecutive parts with exact sets match
		// side by side: each such run's product, and each other part's set, is required. Keep
		// the one whose shortest phrase is longest.
		var best []string
		bestLen := 0
		consider := func(s []string) {
			if s == nil {
				return
			}
			if l := shortest(s); best == nil || l > bestLen || (l == bestLen && len(s) < len(best)) {
				best, bestLen = s, l
			}
		}
		run, inRun := []string{""}, false
		for _, sub := range re.Sub {
			if sub.Op == syntax.OpPlus {
				// x+ is x, then more x: its first x ends the run on its left, and its last x
				// starts the run on its right (ab+c requires "ab" and "bc").
				if e, ok := exact(sub.Sub[0]); ok {
					if p, ok := product(run, e); ok {
						consider(p)
					} else if inRun {
						consider(run)
					}
					run, inRun = e, true
					continue
				}
			}
			if e, ok := exact(sub); ok {
				if p, ok := product(run, e); ok {
					run, inRun = p, true
					continue
				}
				consider(run)
				run, inRun = e, true
				continue
			}
			if inRun {
				consider(run)
			}
			run, inRun = []string{""}, false
			if s, ok := required(sub); ok {
				consider(s)
			}
		}
		if inRun {
			consider(run)
		}
		return best, best != nil
	case syntax.OpAlternate:
		// One branch matches: the union of the branches' sets, if every branch has one.
		var union []string
		for _, sub := range re.Sub {
			s, ok := required(sub)
			if !ok {
				return nil, false
			}
			union = append(union, s...)
			if len(union) > maxPhrases {
				return nil, false
			}
		}
		return union, true
	}
	// OpEmptyMatch, anchors, word boundaries, OpAnyChar(NotNL), OpStar, OpQuest, OpNoMatch...
	return nil, false
}

// exact is the whole set of strings a node matches, when it is finite and small, up to ASCII
// case: zero-width assertions match "", a literal its runes with every case variant Unicode
// folding allows (so (?i)s is "s" or "ſ"), a small class each of its runes.
func exact(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText,
		syntax.OpEndText, syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return []string{""}, true
	case syntax.OpLiteral:
		fold := re.Flags&syntax.FoldCase != 0
		b := make([]byte, 0, len(re.Rune))
		for _, r := range re.Rune {
			b = appendExactRune(b, r, fold)
		}
		return []string{string(b)}, true
	case syntax.OpCharClass:
		// Go's parser lists a class's case variants itself: (?i)[a] is [Aa].
		var set []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			if re.Rune[i+1]-re.Rune[i] >= maxClass {
				return nil, false
			}
			for r := re.Rune[i]; r <= re.Rune[i+1]; r++ {
				if r == utf8.RuneError || len(set) >= maxClass {
					return nil, false
				}
				set = append(set, string(r))
			}
		}
		return set, len(set) > 0
	case syntax.OpCapture:
		return exact(re.Sub[0])
	case syntax.OpQuest:
		s, ok := exact(re.Sub[0])
		if !ok || len(s)+1 > maxPhrases {
			return nil, false
		}
		return append(s, ""), true
	case syntax.OpConcat:
		set := []string{""}
		for _, sub := range re.Sub {
			e, ok := exact(sub)
			if !ok {
				return nil, false
			}
			if set, ok = product(set, e); !ok {
				return nil, false
			}
		}
		return set, true
	case syntax.OpAlternate:
		var set []string
		for _, sub := range re.Sub {
			e, ok := exact(sub)
			if !ok || len(set)+len(e) > maxPhrases {
				return nil, false
			}
			set = append(set, e...)
		}
		return set, true
	}
	return nil, false
}

// maxClass is the largest character class exact expands.
const maxClass = 8

// product is every a followed by every b, if there are at most maxPhrases.
func product(a, b []string) ([]string, bool) {
	if len(a)*len(b) > maxPhrases {
		return nil, false
	}
	out := make([]string, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			out = append(out, x+y)
		}
	}
	return out, true
}

// gap stands, in an exact string, for a rune whose matches we do not spell out: (?i)s also
// matches "ſ", (?i)k the Kelvin sign, (?i)é "É", and U+FFFD any invalid byte. The byte never
// occurs in UTF-8, and syntax.Parse refuses a pattern that is not valid UTF-8, so it never
// comes from a pattern; phrases are the pieces between gaps.
const gap = "\xff"

// appendExactRune appends what a literal rune matches: itself, lower-cased when folded and
// every case variant is ASCII (the prefilter folds ASCII), otherwise a gap.
func appendExactRune(b []byte, r rune, fold bool) []byte {
	if r == utf8.RuneError {
		return append(b, gap...)
	}
	if !fold {
		// A surrogate (\x{D800}) is appended as U+FFFD's bytes, and that is what Go's regexp
		// matches for it (its one-pass literal prefix writes it so): keep the two in step
		// (TestPrefilterSoundOnFoldingRunes).
		return utf8.AppendRune(b, r)
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f >= utf8.RuneSelf {
			return append(b, gap...)
		}
	}
	if r >= utf8.RuneSelf {
		return append(b, gap...)
	}
	return append(b, phrasematch.Fold(byte(r)))
}

// phrase is the longest piece of an exact string between gaps: any match of the string
// contains it.
func phrase(s string) string {
	best := ""
	for piece := range strings.SplitSeq(s, gap) {
		if len(piece) > len(best) {
			best = piece
		}
	}
	return best
}

func shortest(set []string) int {
	n := -1
	for _, s := range set {
		if l := len(phrase(s)); n < 0 || l < n {
			n = l
		}
	}
	return n
}
