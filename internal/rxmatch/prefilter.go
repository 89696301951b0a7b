package rxmatch

import (
	"regexp/syntax"
	"slices"
	"unicode"
	"unicode/utf8"
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
	for i, p := range set {
		if len(p) < minPhraseLen {
			return nil
		}
		set[i] = asciiLower(p) // the parser upper-cases folded literals; matching folds anyway
	}
	slices.Sort(set)
	return slices.Compact(set)
}

// required is the phrase set of one node: ok false means the node can match without any
// phrase we know of (for example the empty string, or any character).
func required(re *syntax.Regexp) (set []string, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		frag := longestSafeFragment(re.Rune, re.Flags&syntax.FoldCase != 0)
		if frag == "" {
			return nil, false
		}
		return []string{frag}, true
	case syntax.OpCapture:
		return required(re.Sub[0])
	case syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
		return nil, false
	case syntax.OpConcat:
		// Every part of a concatenation matches: any part's set is required. Keep the one
		// whose shortest phrase is longest.
		var best []string
		bestLen := 0
		for _, sub := range re.Sub {
			s, ok := required(sub)
			if !ok {
				continue
			}
			if l := shortest(s); best == nil || l > bestLen || (l == bestLen && len(s) < len(best)) {
				best, bestLen = s, l
			}
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

func shortest(set []string) int {
	n := -1
	for _, s := range set {
		if n < 0 || len(s) < n {
			n = len(s)
		}
	}
	return n
}

// longestSafeFragment is the longest run of a literal's runes that any matching input
// contains byte for byte, up to ASCII case: without case folding every rune but U+FFFD
// (which also matches an invalid byte); with it, only runes whose case variants are all
// ASCII ('k' also matches the Kelvin sign, 's' the long s, non-ASCII letters their own
// variants).
func longestSafeFragment(runes []rune, fold bool) string {
	var best, cur []rune
	for _, r := range runes {
		if safeRune(r, fold) {
			cur = append(cur, r)
			if len(cur) > len(best) {
				best = slices.Clone(cur)
			}
			continue
		}
		cur = cur[:0]
	}
	return string(best) // phrasematch folds ASCII letters itself; nothing else may change
}

func safeRune(r rune, fold bool) bool {
	if r == utf8.RuneError {
		return false
	}
	if !fold {
		// Matched as its exact UTF-8 bytes (the prefilter folds only ASCII letters, which
		// makes it looser for case-sensitive literals, never stricter).
		return true
	}
	if r >= utf8.RuneSelf {
		return false
	}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
