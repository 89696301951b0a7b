// Package lazydfa answers one question about a regular expression, whether it matches
// anywhere in a string, with a DFA built lazily from Go's compiled program: each state is the
// set of program threads alive after some input, computed the first time the input leads
// there and then found in a table, so a scan costs one table lookup per byte. Go's regexp
// answers the same question with a backtracker or an NFA that re-walks every thread on every
// character, which for the large alternations of the OWASP CRS was a fifth of the plugin's
// CPU. The answers are Go's: the same parse and program, the same runes (invalid UTF-8 reads
// as U+FFFD, one byte at a time), the same empty-width assertions.
//
// States are cached up to a budget; a scan that fills it starts the cache afresh, and one that
// keeps doing so (input that visits states faster than it reuses them) finishes with Go's
// regexp instead, so memory stays bounded whatever the input.
package lazydfa

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"
)

// DFA matches one pattern. It is safe for concurrent use (a mutex: a Wasm VM has one thread,
// native tests several).
type DFA struct {
	prog *syntax.Prog
	// fallback is Go's regexp for the same pattern, for scans that thrash the cache.
	fallback func() *regexp.Regexp

	// class maps an ASCII byte to its class: bytes of one class are alike for every
	// instruction and every assertion, so they share the transitions.
	class  [utf8.RuneSelf]uint8
	nclass int

	mu sync.Mutex
	// states[0] is unused, so that 0 in trans means "not computed yet". Their threads are
	// slices of arena, and index finds a state by the hash of its threads. A reset truncates
	// all of these and keeps their storage: restarting the cache makes no garbage, which in a
	// Wasm VM would become linear memory for good.
	states []state
	arena  []uint32
	index  map[uint64]int32
	// trans[s*nclass+c] is the state after reading a byte of class c in state s.
	trans []int32
	zeros []int32 // nclass zeros, a new state's row
	// wide holds the transitions on runes outside ASCII.
	wide map[wideKey]int32
	// start is the state before any input.
	start int32
	// size is roughly how many bytes the cache holds; budget and maxResets are Budget and
	// maxResets but in tests.
	size, budget, maxResets int

	// scratch is the working space, from scratchPool while a transition is computed.
	*scratch
	// startMatches says the pattern matches the empty string at the start: it matches any
	// input.
	startMatches bool
}

type wideKey struct {
	from int32
	r    rune
}

// state is a set of threads: the program counters of the instructions that consume a rune
// (or end the match), and of the empty-width assertions not yet decided, which depend on the
// rune that comes next. prev says what came before: the assertions' other half.
type state struct {
	off, n int32 // arena[off:off+n]
	prev   rune
	// atEnd caches whether the state matches at the end of the input: 0 not known yet,
	// 1 no, 2 yes.
	atEnd int8
}

func (d *DFA) pcs(s int32) []uint32 {
	st := &d.states[s]
	return d.arena[st.off : st.off+st.n]
}

// scratch is the working space of a transition's computation, shared by all DFAs (a VM runs
// one at a time) instead of each holding its own, sized to its program.
type scratch struct {
	seen, next    sparseSet
	stack, stack2 []uint32
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// needScratch takes scratch space for d's program from the pool, unless d holds some.
func (d *DFA) needScratch() {
	if d.scratch != nil {
		return
	}
	sc := scratchPool.Get().(*scratch)
	if n := len(d.prog.Inst); len(sc.seen.sparse) < n {
		sc.seen, sc.next = newSparseSet(n), newSparseSet(n)
	}
	d.scratch = sc
}

// releaseScratch returns d's scratch space to the pool.
func (d *DFA) releaseScratch() {
	if d.scratch != nil {
		scratchPool.Put(d.scratch)
		d.scratch = nil
	}
}

// matched is the transition target meaning "the pattern has matched".
const matched = -1

// Budget is the cache size, in bytes, past which a scan starts the cache afresh. A state costs
// its threads plus a row of transitions: a few hundred bytes for the CRS's larger patterns.
const Budget = 64 << 10

// maxResets is how many times one scan may start the cache afresh before it finishes with Go's
// regexp.
const maxResets = 2

// New parses pattern as Go's regexp.Compile does and returns its DFA; fallback returns the
// compiled regexp of the same pattern (called only when a scan thrashes the cache).
func New(pattern string, fallback func() *regexp.Regexp) (*DFA, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return nil, err
	}
	d := &DFA{prog: prog, fallback: fallback, budget: Budget, maxResets: maxResets}
	d.classify()
	d.zeros = make([]int32, d.nclass)
	d.index = make(map[uint64]int32)
	d.wide = make(map[wideKey]int32)
	d.needScratch()
	d.reset()
	d.releaseScratch()
	return d, nil
}

// classify splits the ASCII bytes into classes: by whether each rune instruction accepts
// them, and by what the assertions see (newline, word character or not).
func (d *DFA) classify() {
	sets := []asciiSet{
		asciiOf(func(c rune) bool { return c == '\n' }),
		asciiOf(syntax.IsWordChar),
	}
	seen := map[asciiSet]bool{sets[0]: true, sets[1]: true}
	for i := range d.prog.Inst {
		in := &d.prog.Inst[i]
		if !isRune(in.Op) {
			continue
		}
		if s := asciiAccepted(in); !seen[s] {
			seen[s] = true
			sets = append(sets, s)
		}
	}
	// Refine one partition by each set: bytes stay together only if every set treats them
	// alike.
	var cls [utf8.RuneSelf]int
	n := 1
	ids := make([]int, 2*utf8.RuneSelf) // (old class, in set) -> new class, -1 if none yet
	for _, s := range sets {
		ids = ids[:2*n]
		for i := range ids {
			ids[i] = -1
		}
		next := 0
		for c := range cls {
			k := 2 * cls[c]
			if s.has(rune(c)) {
				k++
			}
			if ids[k] < 0 {
				ids[k] = next
				next++
			}
			cls[c] = ids[k]
		}
		n = next
	}
	for c := range cls {
		d.class[c] = uint8(cls[c])
	}
	d.nclass = n
}

// asciiSet is a set of ASCII characters.
type asciiSet [2]uint64

func (s *asciiSet) add(c rune)     { s[c>>6] |= 1 << (c & 63) }
func (s asciiSet) has(c rune) bool { return s[c>>6]&(1<<(c&63)) != 0 }
func asciiOf(f func(rune) bool) (s asciiSet) {
	for c := range rune(utf8.RuneSelf) {
		if f(c) {
			s.add(c)
		}
	}
	return s
}

// asciiAccepted is the set of ASCII characters rune instruction in accepts, read from its
// ranges rather than by trying all 128 (CRS patterns have thousands of instructions).
func asciiAccepted(in *syntax.Inst) (s asciiSet) {
	switch in.Op {
	case syntax.InstRuneAny:
		return asciiOf(func(rune) bool { return true })
	case syntax.InstRuneAnyNotNL:
		return asciiOf(func(c rune) bool { return c != '\n' })
	}
	if len(in.Rune) == 1 {
		// A literal, with its case variants when folding (InstRune1 never folds).
		r0 := in.Rune[0]
		if r0 < utf8.RuneSelf {
			s.add(r0)
		}
		if in.Op == syntax.InstRune && syntax.Flags(in.Arg)&syntax.FoldCase != 0 {
			for r := unicode.SimpleFold(r0); r != r0; r = unicode.SimpleFold(r) {
				if r < utf8.RuneSelf {
					s.add(r)
				}
			}
		}
		return s
	}
	for i := 0; i+1 < len(in.Rune); i += 2 {
		for c := in.Rune[i]; c <= in.Rune[i+1] && c < utf8.RuneSelf; c++ {
			s.add(c)
		}
	}
	return s
}

// reset empties the cache and adds the start state.
func (d *DFA) reset() {
	d.states = append(d.states[:0], state{})
	d.arena = d.arena[:0]
	clear(d.index)
	d.trans = append(d.trans[:0], d.zeros...) // the unused row of state 0
	clear(d.wide)
	d.size = 0
	d.next.clear()
	d.startMatches = d.addClosure(uint32(d.prog.Start))
	d.start = d.intern(-1)
}

// MatchString reports whether the pattern matches anywhere in s.
func (d *DFA) MatchString(s string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.releaseScratch() // taken by the first transition computed, if any
	if d.startMatches {
		return true
	}
	resets := 0
	cur := d.start
	for i := 0; i < len(s); {
		var next int32
		if c := s[i]; c < utf8.RuneSelf {
			i++
			slot := int(cur)*d.nclass + int(d.class[c])
			if next = d.trans[slot]; next == 0 {
				next = d.step(cur, rune(c))
				d.trans[slot] = next
			}
		} else {
			r, w := utf8.DecodeRuneInString(s[i:])
			i += w
			k := wideKey{cur, r}
			var ok bool
			if next, ok = d.wide[k]; !ok {
				next = d.step(cur, r)
				d.wide[k] = next
				d.size += 16
			}
		}
		if next == matched {
			return true
		}
		if d.size > d.budget {
			// Go on from a fresh cache that holds only the current state, unless this input
			// keeps filling it: then Go's regexp finishes the job.
			if resets++; resets > d.maxResets {
				return d.fallback().MatchString(s)
			}
			next = d.restart(next)
		}
		cur = next
	}
	if d.states[cur].atEnd == 0 {
		d.states[cur].atEnd = 1
		if d.matchesAtEnd(cur) {
			d.states[cur].atEnd = 2
		}
	}
	return d.states[cur].atEnd == 2
}

// restart empties the cache but for state s, which it returns under its new number.
func (d *DFA) restart(s int32) int32 {
	d.needScratch()
	prev := d.states[s].prev
	pcs := slices.Clone(d.pcs(s)) // the arena is about to be reused
	d.reset()
	d.next.clear()
	for _, pc := range pcs {
		d.next.add(pc)
	}
	return d.intern(prev)
}

// step computes the transition from state s on rune r: the assertions between the previous
// rune and r are decided, the threads that accept r advance, and a new match attempt starts
// after r (the search is unanchored).
func (d *DFA) step(s int32, r rune) int32 {
	d.needScratch()
	flags := syntax.EmptyOpContext(d.states[s].prev, r)
	d.next.clear()
	d.seen.clear()
	for _, pc := range d.pcs(s) {
		if d.advance(pc, flags, r) {
			return matched
		}
	}
	if d.addClosure(uint32(d.prog.Start)) {
		return matched
	}
	return d.intern(r)
}

// advance runs thread pc on rune r, given the assertions that hold before r: it follows the
// assertions that hold and adds the threads that accept r, moved past it, to d.next. It
// reports a match that needs no more input.
func (d *DFA) advance(pc uint32, flags syntax.EmptyOp, r rune) bool {
	d.stack = append(d.stack[:0], pc)
	for len(d.stack) > 0 {
		pc := d.stack[len(d.stack)-1]
		d.stack = d.stack[:len(d.stack)-1]
		if !d.seen.add(pc) {
			continue
		}
		in := &d.prog.Inst[pc]
		switch in.Op {
		case syntax.InstMatch:
			return true
		case syntax.InstAlt, syntax.InstAltMatch:
			d.stack = append(d.stack, in.Arg, in.Out)
		case syntax.InstNop, syntax.InstCapture:
			d.stack = append(d.stack, in.Out)
		case syntax.InstEmptyWidth:
			if syntax.EmptyOp(in.Arg)&^flags == 0 {
				d.stack = append(d.stack, in.Out)
			}
		default:
			if isRune(in.Op) && accepts(in, r) && d.addClosure(in.Out) {
				return true
			}
		}
	}
	return false
}

func isRune(op syntax.InstOp) bool {
	switch op {
	case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
		return true
	}
	return false
}

// accepts reports whether rune instruction in accepts r (negative: no rune, the end of the
// input), exactly as Go's regexp machines decide it.
func accepts(in *syntax.Inst, r rune) bool {
	if r < 0 {
		return false
	}
	switch in.Op {
	case syntax.InstRune1:
		return r == in.Rune[0]
	case syntax.InstRuneAny:
		return true
	case syntax.InstRuneAnyNotNL:
		return r != '\n'
	}
	return in.MatchRune(r)
}

// addClosure adds to d.next the threads reachable from pc without reading a rune or deciding
// an assertion, and reports whether the match instruction is among them.
func (d *DFA) addClosure(start uint32) bool {
	// Its own stack: advance calls this while walking d.stack.
	stack := append(d.stack2[:0], start)
	defer func() { d.stack2 = stack }()
	for len(stack) > 0 {
		pc := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if d.next.has(pc) {
			continue
		}
		in := &d.prog.Inst[pc]
		switch in.Op {
		case syntax.InstFail:
		case syntax.InstMatch:
			return true
		case syntax.InstAlt, syntax.InstAltMatch:
			d.next.add(pc)
			stack = append(stack, in.Arg, in.Out)
		case syntax.InstNop, syntax.InstCapture:
			d.next.add(pc)
			stack = append(stack, in.Out)
		default: // runes and assertions wait for the next rune
			d.next.add(pc)
		}
	}
	return false
}

// intern returns the state of the threads in d.next after rune prev, adding it if new. Only
// the instructions that wait (runes, assertions) make up the state.
func (d *DFA) intern(prev rune) int32 {
	// The assertions need only what kind of rune came before.
	switch {
	case prev < 0, prev == '\n':
	case syntax.IsWordChar(prev):
		prev = 'a'
	default:
		prev = ' '
	}
	off := len(d.arena)
	for _, pc := range d.next.members() {
		if op := d.prog.Inst[pc].Op; isRune(op) || op == syntax.InstEmptyWidth {
			d.arena = append(d.arena, pc)
		}
	}
	pcs := d.arena[off:]
	slices.Sort(pcs)
	h := hashState(prev, pcs)
	if s, ok := d.index[h]; ok && d.states[s].prev == prev && slices.Equal(d.pcs(s), pcs) {
		d.arena = d.arena[:off]
		return s
	}
	s := int32(len(d.states))
	d.states = append(d.states, state{off: int32(off), n: int32(len(pcs)), prev: prev})
	// On the rare hash collision the older state keeps the index: the new one is only a
	// duplicate, which costs room, not correctness.
	if _, taken := d.index[h]; !taken {
		d.index[h] = s
	}
	d.trans = append(d.trans, d.zeros...)
	d.size += 4*len(pcs) + 4*d.nclass + 48
	return s
}

// hashState is FNV-1a over the previous rune's kind and the threads.
func hashState(prev rune, pcs []uint32) uint64 {
	h := uint64(14695981039346656037)
	mix := func(x uint32) {
		for range 4 {
			h ^= uint64(x & 0xff)
			h *= 1099511628211
			x >>= 8
		}
	}
	mix(uint32(prev))
	for _, pc := range pcs {
		mix(pc)
	}
	return h
}

// matchesAtEnd reports whether state s matches at the end of the input, where the assertions
// see no next rune.
func (d *DFA) matchesAtEnd(s int32) bool {
	d.needScratch()
	flags := syntax.EmptyOpContext(d.states[s].prev, -1)
	d.next.clear()
	d.seen.clear()
	for _, pc := range d.pcs(s) {
		// No rune follows, so only assertions can lead to the match.
		if d.advance(pc, flags, -1) {
			return true
		}
	}
	return false
}

// States reports how many states the cache holds, for tests and measurements.
func (d *DFA) States() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.states) - 1
}

// sparseSet is a set of program counters with constant-time clear (Briggs and Torczon).
type sparseSet struct {
	dense  []uint32
	sparse []uint32
}

func newSparseSet(n int) sparseSet {
	return sparseSet{dense: make([]uint32, 0, n), sparse: make([]uint32, n)}
}

func (s *sparseSet) has(x uint32) bool {
	i := s.sparse[x]
	return int(i) < len(s.dense) && s.dense[i] == x
}

// add adds x and reports whether it was new.
func (s *sparseSet) add(x uint32) bool {
	if s.has(x) {
		return false
	}
	s.sparse[x] = uint32(len(s.dense))
	s.dense = append(s.dense, x)
	return true
}

func (s *sparseSet) clear()            { s.dense = s.dense[:0] }
func (s *sparseSet) len() int          { return len(s.dense) }
func (s *sparseSet) members() []uint32 { return s.dense }
