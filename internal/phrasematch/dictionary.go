// Package phrasematch is Coraza's @pm family of operators (@pm, @pmFromFile, @pmf) on a
// compact trie instead of Aho-Corasick automata.
//
// Stock Coraza builds one automaton per dictionary. For the CRS that is about half of the
// heap a loaded rule set keeps (10 of 20 MiB natively) and a third of the time a VM spends
// loading it, and Wasm linear memory never gives back what loading allocated on the way. The
// CRS dictionaries hold 145 KB of phrases; a trie of them costs a few hundred KB and is built
// in one pass. Matching finds the same matches stock Coraza finds (see Dictionary.Next).
package phrasematch

import (
	"errors"
	"slices"
	"strings"
)

// Dictionary is a set of phrases matched ASCII-case-insensitively. Build one with New.
// It is immutable and safe for concurrent use.
type Dictionary struct {
	// root maps a first byte (folded to lower case) to its trie node, or 0 for none.
	root [256]int32
	// nodes[0] is the root itself; the root's children are found through root.
	nodes []node
	// labels[i] and next[i] are the edges: a byte and the node it leads to. A node's edges
	// are contiguous and sorted by label.
	labels []byte
	next   []int32
	minLen int
}

type node struct {
	firstEdge int32
	edges     uint16
	// final is set when the path to this node spells a whole phrase.
	final bool
}

// ErrEmptyPhrase is New's error for an empty phrase, which would match every input (stock
// Coraza's automaton matches it at some positions and not others).
var ErrEmptyPhrase = errors.New("empty phrase")

// New builds a dictionary of phrases. Phrases are compared with ASCII case folding: callers
// pass them lower-cased, as Coraza does (strings.ToLower), and upper-case ASCII letters in
// the input then match them. An empty phrase is refused (ErrEmptyPhrase).
func New(phrases []string) (*Dictionary, error) {
	sorted := make([]string, len(phrases))
	for i, p := range phrases {
		sorted[i] = FoldString(p)
	}
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)

	d := &Dictionary{nodes: []node{{}}, minLen: -1}
	for _, p := range sorted {
		if d.minLen < 0 || len(p) < d.minLen {
			d.minLen = len(p)
		}
	}
	if d.minLen < 0 {
		d.minLen = 0
	}
	if len(sorted) > 0 && sorted[0] == "" {
		return nil, ErrEmptyPhrase
	}
	// One node per distinct prefix: count them so the arrays are allocated once, at size.
	size := 1
	for i, p := range sorted {
		common := 0
		if i > 0 {
			prev := sorted[i-1]
			for common < len(prev) && common < len(p) && prev[common] == p[common] {
				common++
			}
		}
		size += len(p) - common
	}
	d.nodes = make([]node, 1, size)
	d.labels = make([]byte, 0, size)
	d.next = make([]int32, 0, size)

	// Breadth first over the sorted phrases: the phrases under one node form a contiguous
	// run sharing a prefix, so each node's children are found by splitting its run on the
	// next byte, already in label order.
	type span struct {
		node, depth int32
		lo, hi      int32 // sorted[lo:hi] all share the node's prefix and are longer than depth
	}
	queue := make([]span, 1, size)
	queue[0] = span{lo: 0, hi: int32(len(sorted))}
	for q := 0; q < len(queue); q++ {
		s := queue[q]
		first := int32(len(d.labels))
		for i := s.lo; i < s.hi; {
			b := sorted[i][s.depth]
			j := i
			for j < s.hi && sorted[j][s.depth] == b {
				j++
			}
			child := int32(len(d.nodes))
			d.nodes = append(d.nodes, node{})
			// Phrases ending at the child sort first within its run.
			k := i
			for k < j && int32(len(sorted[k])) == s.depth+1 {
				d.nodes[child].final = true
				k++
			}
			if s.node == 0 {
				d.root[b] = child
			} else {
				d.labels = append(d.labels, b)
				d.next = append(d.next, child)
			}
			if k < j {
				queue = append(queue, span{node: child, depth: s.depth + 1, lo: k, hi: j})
			}
			i = j
		}
		if s.node != 0 {
			d.nodes[s.node].firstEdge = first
			d.nodes[s.node].edges = uint16(int32(len(d.labels)) - first)
		}
	}
	return d, nil
}

// MinLen is the length of the shortest phrase: no shorter input can match.
func (d *Dictionary) MinLen() int { return d.minLen }

// Contains reports whether any phrase occurs in s.
func (d *Dictionary) Contains(s string) bool {
	if len(s) < d.minLen {
		return false
	}
	_, _, ok := d.Next(s, 0)
	return ok
}

// Next finds the first position at or after from where a phrase starts, and the longest
// phrase starting there: the match s[start:end]. Iterating with from = start+1 yields the
// matches stock Coraza captures (its Aho-Corasick iterator is leftmost-longest and resumes
// one byte after each match's start), so matches may overlap.
func (d *Dictionary) Next(s string, from int) (start, end int, ok bool) {
	for i := max(from, 0); i < len(s); i++ {
		if n := d.longestAt(s, i); n > 0 {
			return i, i + n, true
		}
	}
	return 0, 0, false
}

// longestAt is the length of the longest phrase at s[i:], 0 when none.
func (d *Dictionary) longestAt(s string, i int) int {
	cur := d.root[Fold(s[i])]
	if cur == 0 {
		return 0
	}
	longest := 0
	for j := i + 1; ; j++ {
		n := &d.nodes[cur]
		if n.final {
			longest = j - i
		}
		if n.edges == 0 || j == len(s) {
			return longest
		}
		cur = d.child(n, Fold(s[j]))
		if cur == 0 {
			return longest
		}
	}
}

func (d *Dictionary) child(n *node, b byte) int32 {
	lo, hi := int(n.firstEdge), int(n.firstEdge)+int(n.edges)
	if hi-lo <= 8 {
		for k := lo; k < hi; k++ {
			if d.labels[k] == b {
				return d.next[k]
			}
		}
		return 0
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch l := d.labels[m]; {
		case l == b:
			return d.next[m]
		case l < b:
			lo = m + 1
		default:
			hi = m
		}
	}
	return 0
}

// Fold lower-cases an ASCII letter and leaves every other byte alone: the case folding a
// Dictionary compares with.
func Fold(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// FoldString is s with Fold applied to every byte.
func FoldString(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = Fold(b[j])
			}
			return string(b)
		}
	}
	return s
}

// SplitArguments is @pm's dictionary: its argument lower-cased and split on single spaces, as
// stock Coraza splits it (two spaces in a row give an empty phrase, which New refuses).
func SplitArguments(args string) []string {
	return strings.Split(strings.ToLower(args), " ")
}
