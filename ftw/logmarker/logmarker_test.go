package logmarker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeLog(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "waf.log")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func marker(id string) string {
	return fmt.Sprintf(`[client 127.0.0.1] Coraza: Warning. [id "999999"] [msg "X-CRS-Test %s"] [data "X-CRS-Test: %s"]`, id, id)
}

func TestFindAndBetween(t *testing.T) {
	log := strings.Join([]string{
		"noise before",
		marker("920100-1-abc-s"),
		`Coraza: Warning. [id "920100"] [msg "Invalid HTTP Request Line"]`,
		marker("920100-1-abc-s"), // a re-sent start marker
		`{"transaction":{"messages":[{"details":{"ruleId":"949110"}}]}}`,
		`Coraza: [id \"942100\"] escaped`,
		marker("920100-1-abc-e"),
		marker("920100-1-abc-e"),
		"trailing noise without the header",
	}, "\n") + "\n"
	r, err := Open(writeLog(t, log), "X-CRS-Test", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The last line carrying the header holds the end marker, so the start marker is "not found".
	if _, err := r.Find("920100-1-abc-s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("start: err = %v, want ErrNotFound", err)
	}
	end, err := r.Find("920100-1-ABC-e") // case-insensitive
	if err != nil {
		t.Fatal(err)
	}
	start := Marker{Line: []byte(strings.ToLower(marker("920100-1-abc-s")))}
	start.End = int64(strings.Index(log, marker("920100-1-abc-s")) + len(marker("920100-1-abc-s")) + 1)
	lines, err := r.Between(start, end)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 3 {
		t.Fatalf("lines = %q", lines)
	}
	if ids := RuleIDs(lines, nil); !slices.Equal(ids, []uint{920100, 942100, 949110}) {
		t.Errorf("ids = %v", ids)
	}
}

func TestFindLimitAndPartialLastLine(t *testing.T) {
	var b strings.Builder
	b.WriteString(marker("x-1-u-s") + "\n")
	for i := range 10 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	b.WriteString("partial line without newline")
	r, err := Open(writeLog(t, b.String()), "x-crs-test", 5)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Find("x-1-u-s"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("marker 11 lines back found with a 5-line limit: %v", err)
	}
	r.maxLines = 20
	m, err := r.Find("x-1-u-s")
	if err != nil || m.Start != 0 {
		t.Fatalf("m = %+v, err = %v", m, err)
	}
}

func TestFindLongLinesAcrossChunks(t *testing.T) {
	long := strings.Repeat("a", 10000)
	log := long + "\n" + marker("r-1-u-s") + " " + long + "\n" + long + "\r\n"
	r, _ := Open(writeLog(t, log), "X-CRS-Test", 0)
	defer r.Close()
	m, err := r.Find("r-1-u-s")
	if err != nil {
		t.Fatal(err)
	}
	if m.Start != int64(len(long)+1) || m.End != int64(len(log)-len(long)-2) {
		t.Errorf("marker at [%d,%d)", m.Start, m.End)
	}
}

// TestConcurrentAppend drives the protocol against a writer that flushes markers late, the way
// a buffered WAF log behaves: the reader must re-try until its marker shows up.
func TestConcurrentAppend(t *testing.T) {
	p := writeLog(t, "")
	w, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r, err := Open(p, "X-CRS-Test", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			fmt.Fprintf(w, "unrelated %d\n", i)
		}
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintln(w, marker("1-1-u-s"))
		for i := range 50 {
			fmt.Fprintf(w, `[id "%d"] hit`+"\n", 100+i)
		}
		time.Sleep(20 * time.Millisecond)
		fmt.Fprint(w, marker("1-1-u-e")[:20]) // torn write first
		time.Sleep(10 * time.Millisecond)
		fmt.Fprintln(w, marker("1-1-u-e")[20:])
	})
	find := func(id string) Marker {
		t.Helper()
		for range 200 {
			if m, err := r.Find(id); err == nil {
				return m
			} else if !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatalf("marker %s never found", id)
		return Marker{}
	}
	start := find("1-1-u-s")
	end := find("1-1-u-e")
	wg.Wait()
	lines, err := r.Between(start, end)
	if err != nil {
		t.Fatal(err)
	}
	if ids := RuleIDs(lines, nil); len(ids) != 50 || ids[0] != 100 || ids[49] != 149 {
		t.Errorf("ids = %v", ids)
	}
}

func TestRuleIDs(t *testing.T) {
	cases := []struct {
		name   string
		line   string
		custom *regexp.Regexp
		want   []uint
	}{
		{"coraza_text", `[id "941100"] [msg "XSS"] [id "941110"]`, nil, []uint{941100, 941110}},
		{"escaped_quotes", `[id \"932100\"]`, nil, []uint{932100}},
		{"json_bracket", `["id":"913100"]`, nil, []uint{913100}},
		{"json_fallback", `{"id": 920350, "msg": "x"}`, nil, []uint{920350}},
		{"json_ruleId", `{"a":1, "ruleId":"949110"}`, nil, []uint{949110}},
		{"std_wins_over_json", `{"id":1} [id "2"]`, nil, []uint{2}},
		{"custom", `rule=42 rule=43`, regexp.MustCompile(`rule=(\d+)`), []uint{42, 43}},
		{"none", `nothing here id 5`, nil, []uint{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := RuleIDs([][]byte{[]byte(c.line)}, c.custom); !slices.Equal(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}
