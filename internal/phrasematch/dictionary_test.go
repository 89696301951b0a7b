package phrasematch

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	ahocorasick "github.com/petar-dambovaliev/aho-corasick"
)

// reference is a dictionary built both ways: ours, and stock Coraza's Aho-Corasick automata
// with the options @pm (DFA) and @pmFromFile (NFA) build them with.
type reference struct {
	phrases []string
	ours    *Dictionary
	stock   [2]ahocorasick.AhoCorasick
}

func newReference(t *testing.T, phrases []string) *reference {
	t.Helper()
	d, err := New(phrases)
	if err != nil {
		t.Fatalf("New(%q): %v", phrases, err)
	}
	r := &reference{phrases: phrases, ours: d}
	for i, dfa := range []bool{true, false} {
		b := ahocorasick.NewAhoCorasickBuilder(ahocorasick.Opts{
			AsciiCaseInsensitive: true,
			MatchKind:            ahocorasick.LeftMostLongestMatch,
			DFA:                  dfa,
		})
		r.stock[i] = b.Build(phrases)
	}
	return r
}

// stockMatches are the matches stock Coraza's @pm iterates over.
func stockMatches(ac ahocorasick.AhoCorasick, s string) []string {
	var out []string
	it := ac.Iter(s)
	for m := it.Next(); m != nil && len(out) < 64; m = it.Next() {
		out = append(out, fmt.Sprintf("%d:%q", m.Start(), s[m.Start():m.End()]))
	}
	return out
}

func ourMatches(d *Dictionary, s string) []string {
	var out []string
	for from := 0; len(out) < 64; {
		start, end, ok := d.Next(s, from)
		if !ok {
			break
		}
		out = append(out, fmt.Sprintf("%d:%q", start, s[start:end]))
		from = start + 1
	}
	return out
}

func (r *reference) compare(t *testing.T, s string) {
	t.Helper()
	got := ourMatches(r.ours, s)
	for i, ac := range r.stock {
		want := stockMatches(ac, s)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("phrases %q in %q (stock automaton %d):\n got %v\nwant %v", r.phrases, s, i, got, want)
		}
	}
	if c := r.ours.Contains(s); c != (len(got) > 0) {
		t.Fatalf("phrases %q in %q: Contains %v, %d matches", r.phrases, s, c, len(got))
	}
}

func compare(t *testing.T, phrases []string, s string) {
	t.Helper()
	newReference(t, phrases).compare(t, s)
}

func TestNextMatchesStock(t *testing.T) {
	for _, c := range []struct {
		phrases []string
		s       string
	}{
		{[]string{"abc", "bc", "c"}, "xxABCxx"},
		{[]string{"a", "ab", "abc"}, "abcabab"},
		{[]string{"he", "she", "his", "hers"}, "ushers ahishers"},
		{[]string{"select", "union"}, "1 UNION SELECT pass FROM users"},
		{[]string{"aaa"}, "aaaaaa"},
		{[]string{"x"}, ""},
		{[]string{"é", "ü"}, "ÉéÜü"},
		{[]string{"a b", "/etc/passwd"}, "cat /ETC/PASSWD; a b"},
		{[]string{"dup", "dup", "du"}, "dupdu"},
		{[]string{"\x00z", "\xff"}, "a\x00Z\xff"},
		{nil, "anything"},
	} {
		compare(t, c.phrases, c.s)
	}
}

// TestCRSDictionariesMatchStock runs every dictionary the CRS gives @pm and @pmFromFile over
// inputs made from its own phrases (case changed, cut, glued together) and random bytes.
func TestCRSDictionariesMatchStock(t *testing.T) {
	dicts := crsDictionaries(t)
	if len(dicts) < 20 {
		t.Fatalf("found %d CRS dictionaries, want the CRS's 30-odd @pm/@pmFromFile uses", len(dicts))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for name, phrases := range dicts {
		t.Run(name, func(t *testing.T) {
			r := newReference(t, phrases)
			for i := range 300 {
				r.compare(t, haystack(rng, phrases, i))
			}
		})
	}
}

func haystack(rng *rand.Rand, phrases []string, i int) string {
	var b strings.Builder
	for range 1 + rng.IntN(4) {
		p := phrases[rng.IntN(len(phrases))]
		switch rng.IntN(4) {
		case 0:
			p = strings.ToUpper(p)
		case 1:
			if len(p) > 1 {
				p = p[:rng.IntN(len(p))]
			}
		case 2:
			r := make([]byte, rng.IntN(12))
			for j := range r {
				r[j] = byte(rng.IntN(256))
			}
			p = string(r)
		}
		b.WriteString(p)
		if i%2 == 0 {
			b.WriteByte(" /.;"[rng.IntN(4)])
		}
	}
	return b.String()
}

var pmInRule = regexp.MustCompile(`"@(pm|pmFromFile) ([^"]+)"`)

// crsDictionaries are the phrase lists of every @pm and @pmFromFile in the CRS, by use.
func crsDictionaries(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	confs, err := fs.Glob(coreruleset.FS, "@owasp_crs/*.conf")
	if err != nil || len(confs) == 0 {
		t.Fatalf("CRS rule files: %v (%d)", err, len(confs))
	}
	for _, conf := range confs {
		text, err := fs.ReadFile(coreruleset.FS, conf)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range pmInRule.FindAllStringSubmatch(string(text), -1) {
			name := fmt.Sprintf("%s#%d", strings.TrimPrefix(conf, "@owasp_crs/"), i)
			if m[1] == "pm" {
				out[name] = SplitArguments(m[2])
				continue
			}
			data, err := readDataFile(coreruleset.FS, []string{"@owasp_crs"}, m[2])
			if err != nil {
				t.Fatal(err)
			}
			phrases, err := dataFilePhrases(data)
			if err != nil || len(phrases) == 0 {
				t.Fatalf("%s: %d phrases, %v", m[2], len(phrases), err)
			}
			out[name+"("+m[2]+")"] = phrases
		}
	}
	return out
}

// FuzzNextMatchesStock: any phrases (split on '|'), any input, the same matches as stock.
func FuzzNextMatchesStock(f *testing.F) {
	f.Add("abc|bc|c", "xxABCxx")
	f.Add("b|a", "ba")
	f.Add("select|union all|sel", "UNION ALL SELECT")
	f.Add("..|../|..\\", "....//..\\x")
	f.Fuzz(func(t *testing.T, phrases, s string) {
		if len(phrases) > 200 || len(s) > 400 {
			return
		}
		list := strings.Split(strings.ToLower(phrases), "|")
		if slices.Contains(list, "") {
			if _, err := New(list); !errors.Is(err, ErrEmptyPhrase) {
				t.Fatalf("New(%q): %v, want ErrEmptyPhrase", list, err)
			}
			return
		}
		compare(t, list, s)
	})
}

func TestEmptyPhraseRefused(t *testing.T) {
	for _, args := range []string{"a  b", " a", "a ", ""} {
		if _, err := New(SplitArguments(args)); !errors.Is(err, ErrEmptyPhrase) {
			t.Errorf("@pm %q: %v, want ErrEmptyPhrase", args, err)
		}
	}
}

func TestSharedPrefixesAndLabels(t *testing.T) {
	// A node with more than eight children is searched by bisection.
	var phrases []string
	for c := byte('a'); c <= 'z'; c++ {
		phrases = append(phrases, "x"+string(c), "x"+string(c)+"yz")
	}
	r := newReference(t, phrases)
	for _, s := range []string{"XQYZ", "xa", "x", "xm_", "zzxzy", "XZYZ"} {
		r.compare(t, s)
	}
	if n := r.ours.MinLen(); n != 2 {
		t.Errorf("MinLen = %d, want 2", n)
	}
}
