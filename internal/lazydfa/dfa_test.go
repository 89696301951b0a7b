package lazydfa

import (
	"regexp"
	"strings"
	"testing"
)

// check compares the DFA's answer with Go's regexp on each input, and returns the DFA.
func check(t *testing.T, pattern string, inputs ...string) *DFA {
	t.Helper()
	re, err := regexp.Compile(pattern)
	if err != nil {
		if _, derr := New(pattern, nil); derr == nil {
			t.Fatalf("%q: regexp refuses it (%v), New accepts it", pattern, err)
		}
		return nil
	}
	d, err := New(pattern, func() *regexp.Regexp { return re })
	if err != nil {
		t.Fatalf("%q: %v", pattern, err)
	}
	// Every rune instruction treats the bytes of one class alike, and asciiAccepted reads
	// the instruction as Go's machines run it.
	for i := range d.prog.Inst {
		in := &d.prog.Inst[i]
		if !isRune(in.Op) {
			continue
		}
		set := asciiAccepted(in)
		for c := range rune(128) {
			if set.has(c) != accepts(in, c) {
				t.Fatalf("%q: instruction %d: asciiAccepted says %v for %q, the instruction %v", pattern, i, set.has(c), c, accepts(in, c))
			}
		}
	}
	// A DFA whose cache restarts at every new state, never falling back: the restarts must
	// not change an answer either.
	tiny, _ := New(pattern, func() *regexp.Regexp { t.Fatal("fell back"); return re })
	tiny.budget, tiny.maxResets = 0, 1<<30
	for _, in := range inputs {
		// Twice: computing the transitions, then from the cache.
		for range 2 {
			if got, want := d.MatchString(in), re.MatchString(in); got != want {
				t.Fatalf("%q on %q: DFA says %v, regexp %v", pattern, in, got, want)
			}
			if got, want := tiny.MatchString(in), re.MatchString(in); got != want {
				t.Fatalf("%q on %q with restarts: DFA says %v, regexp %v", pattern, in, got, want)
			}
		}
	}
	return d
}

var inputs = []string{
	"", "a", "foo", "foo bar", "bar\nfoo", "foo\n", "\nfoo\nbar\n", "xfoox", "FOO", "Foo-Bar",
	"k", "K", "\u212a", "s", "S", "\u017f", "\xff", "a\xffb", "\xe2\x82", "é", "naïve café", "日本語",
	"union select", "UNION/**/SELECT", "1' OR '1'='1", "<script>alert(1)</script>", "../../etc/passwd",
	"a_b", "__", "a\tb", "\x00", "line1\r\nline2",
	"eennvv=env&eennvv whoami", ";c'a't /etc/passwd", "x|w\\ho\"ami", "enc env", "catalog",
}

func TestAgreesWithRegexp(t *testing.T) {
	patterns := []string{
		``, `a`, `a*`, `^`, `$`, `^$`, `\A`, `\z`, `\Afoo`, `foo\z`, `(?m)^foo$`, `(?m)^bar`,
		`(?m)foo$`, `^foo`, `foo$`, `\bfoo\b`, `\Boo\B`, `\b`, `\B`, `(?s)foo.bar`, `foo.bar`,
		`(?i)foo`, `(?i)k`, `(?i)s`, `\x{212a}`, `(?i)\x{212a}`, `(?i)[k-m]`, `[^a-z]`, `[à-ÿ]+`,
		`\pL+\d`, `.`, `(?s).`, `\n`, `(?:foo|bar)+baz`, `(?i)union\s+select`, `a{2,}`,
		`(?sm)(?i)^(?:[^']*?(?:'[^']*?'[^']*?)*?'|[^"]*?(?:"[^"]*?"[^"]*?)*?")`,
		`(?i)<script[^>]*>[\s\S]*?`, `(?:^|[/;\\])\.{2,3}[/;\\]`, `\xff`, "\ufffd", `[\x{fffd}]`,
		`(?m)$\n^`, `\b_`, `é\b`, `\bé`, `(?i)Σ`, `a|^b|c$`, `x*\bfoo`,
		// Obfuscation-tolerant command names, as the CRS writes them: large thread sets.
		`(?i)(?:^|[;&|])[\s"'\\]*(?:c["'\\]*a["'\\]*t|w["'\\]*h["'\\]*o["'\\]*a["'\\]*m["'\\]*i|e["'\\]*n["'\\]*v)(?:[\s;|&<>]|$)`,
	}
	for _, p := range patterns {
		check(t, p, inputs...)
	}
}

// TestBoundedMemory drives a pattern whose DFA has exponentially many states (the 20th
// character from the end is an 'a') over varied input: the cache restarts within its budget,
// then Go's regexp answers, and the answer stays Go's.
func TestBoundedMemory(t *testing.T) {
	var b strings.Builder
	x := uint32(1)
	for range 20000 {
		x = x*1664525 + 1013904223 // a fixed pseudo-random sequence of a and b
		b.WriteByte("ab"[x>>31])
	}
	in := b.String()
	re := regexp.MustCompile(`a.{20}$`)
	fallbacks := 0
	d, err := New(re.String(), func() *regexp.Regexp { fallbacks++; return re })
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{in, in + "x", in[:100]} {
		if got, want := d.MatchString(s), re.MatchString(s); got != want {
			t.Fatalf("DFA says %v, regexp %v", got, want)
		}
		if d.size > 2*Budget {
			t.Fatalf("cache holds %d bytes, budget %d", d.size, Budget)
		}
	}
	if fallbacks == 0 {
		t.Fatal("the cache never overflowed: the test does not exercise the budget")
	}
}

func TestInvalidPatternRefused(t *testing.T) {
	if _, err := New(`a(`, nil); err == nil {
		t.Fatal("New accepted a(")
	}
}

func FuzzAgreesWithRegexp(f *testing.F) {
	for _, p := range []string{`(?m)^foo$`, `\bfoo\b`, `(?i)k.s`, `(?s)a.{3}b`, `[^\n]+$`, `\B\d`} {
		f.Add(p, "foo\nK\u017fs a\n\nbc \xff 123")
	}
	f.Fuzz(func(t *testing.T, pattern, input string) {
		if len(pattern) > 100 || len(input) > 300 {
			return
		}
		check(t, pattern, input, strings.ToUpper(input), input+"\n", "\n"+input)
	})
}

// BenchmarkMatchString compares the DFA with Go's regexp on a command-injection pattern in the
// CRS's style over 1 KB of benign text (no match: the common case).
func BenchmarkMatchString(b *testing.B) {
	pattern := `(?i)(?:^|[;&|])[\s"'\\]*(?:c["'\\]*a["'\\]*t|w["'\\]*h["'\\]*o["'\\]*a["'\\]*m["'\\]*i|e["'\\]*n["'\\]*v)(?:[\s;|&<>]|$)`
	re := regexp.MustCompile(pattern)
	d, err := New(pattern, func() *regexp.Regexp { return re })
	if err != nil {
		b.Fatal(err)
	}
	input := strings.Repeat("the quick brown fox; jumps over the lazy dog & cats ", 20)
	b.Run("dfa", func(b *testing.B) {
		b.SetBytes(int64(len(input)))
		for b.Loop() {
			if d.MatchString(input) {
				b.Fatal("matched")
			}
		}
	})
	b.Run("regexp", func(b *testing.B) {
		b.SetBytes(int64(len(input)))
		for b.Loop() {
			if re.MatchString(input) {
				b.Fatal("matched")
			}
		}
	})
}
