package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/meshwaf/meshwaf/ftw/backend"
	"github.com/meshwaf/meshwaf/ftw/config"
	"github.com/meshwaf/meshwaf/ftw/test"
)

// fakeWAF stands in for meshwaf in front of the albedo backend: it logs the marker header the
// way the @ftw-conf marker rule does, blocks "attack" (rules 100001 and 949110), logs
// "suspicious" (100002), logs responses containing "leak" (100003) and hangs up on X-Close.
type fakeWAF struct {
	mu       sync.Mutex
	log      *os.File
	buffered bool     // lines reach the file one request late, like a buffered log writer
	pending  []string // lines not yet written when buffered
	noMarker bool     // the marker rule is missing
	flaky    map[string]int
	upstream http.Handler
}

func newFakeWAF(t *testing.T, buffered bool) (*fakeWAF, string) {
	t.Helper()
	be := httptest.NewServer(backend.Handler{})
	t.Cleanup(be.Close)
	u, _ := url.Parse(be.URL)
	logPath := filepath.Join(t.TempDir(), "waf.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	w := &fakeWAF{log: f, buffered: buffered, flaky: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.ModifyResponse = func(resp *http.Response) error {
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte("leak")) {
			w.logf(`Coraza: Warning. Data leak [id "100003"] [msg "leak in response"]`)
		}
		return nil
	}
	w.upstream = proxy
	return w, logPath
}

func (w *fakeWAF) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...) + "\n"
	if w.buffered {
		w.pending = append(w.pending, line)
		return
	}
	w.log.WriteString(line)
}

func (w *fakeWAF) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range w.pending { // a new request flushes what earlier ones buffered
		w.log.WriteString(l)
	}
	w.pending = nil
	if v := r.Header.Get("X-CRS-Test"); v != "" {
		if !w.noMarker {
			w.logf(`[client 127.0.0.1] Coraza: Warning. [file "@ftw-conf"] [id "999999"] [msg "X-CRS-Test %s"] [uri "%s"]`, v, r.URL.Path)
		}
		return
	}
	if r.Header.Get("X-Close") != "" {
		conn, _, _ := rw.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	if v := r.Header.Get("X-Flaky"); v != "" {
		w.flaky[v]++
		if w.flaky[v] == 1 {
			rw.WriteHeader(http.StatusInternalServerError)
			return
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	inspected := r.URL.Query().Encode()
	if r.Header.Get("Content-Type") == "application/x-www-form-urlencoded" {
		form, _ := url.ParseQuery(string(body))
		inspected += form.Encode()
	}
	inspected, _ = url.QueryUnescape(inspected)
	switch {
	case strings.Contains(inspected, "attack"):
		w.logf(`Coraza: Warning. Attack [id "100001"] [msg "attack in %s"]`, r.URL.Path)
		w.logf(`Coraza: Access denied (phase 2). Inbound Anomaly Score Exceeded (Total Score: 5) [id "949110"]`)
		rw.WriteHeader(http.StatusForbidden)
		return
	case strings.Contains(inspected, "suspicious"):
		w.logf(`Coraza: Warning. [id "100002"] [msg "suspicious"]`)
	}
	w.upstream.ServeHTTP(rw, r)
}

func fixtureFiles(t *testing.T) []test.File {
	t.Helper()
	files, err := test.LoadDir("../testdata/runner/tests")
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestRunEndToEnd(t *testing.T) {
	for _, buffered := range []bool{false, true} {
		t.Run(map[bool]string{false: "immediate_log", true: "buffered_log"}[buffered], func(t *testing.T) {
			waf, logPath := newFakeWAF(t, buffered)
			srv := httptest.NewServer(waf)
			defer srv.Close()
			var out bytes.Buffer
			report := filepath.Join(t.TempDir(), "sub", "report.json")
			sum, err := Run(context.Background(), Options{
				Target: srv.URL, LogFile: logPath, Dir: "../testdata/runner/tests",
				ConfigFile: "../testdata/runner/ftw.yaml", OverridesFile: "../testdata/runner/overrides.yaml",
				ReportPath: report, Out: &out, Verbose: true,
			})
			if err != nil {
				t.Fatalf("Run: %v\n%s", err, out.String())
			}
			got := map[string]Result{}
			for _, r := range sum.Results {
				got[r.Name] = r
			}
			want := map[string]Outcome{
				"100000-1": Passed, "100000-2": Passed, "100000-3": Failed, "100000-4": Passed, "100000-5": Failed,
				"100000-6": Passed, "100000-7": Passed, "100000-8": Failed, "100000-9": Passed, "100000-10": Failed,
				"100000-11": Passed, "100000-12": Passed, "100000-13": Passed, "100000-14": Ignored, "100000-15": ForcedFail,
				"100000-16": ForcedPass, "100000-17": Passed, "100000-18": Passed, "100000-19": Passed,
				"100100-1": Passed, "100100-2": Passed,
			}
			for name, o := range want {
				if got[name].Outcome != o {
					r := got[name]
					t.Errorf("%s: %s (expected %s, got %s; stages %+v), want %s", name, r.Outcome, r.Expected, r.Got, r.Stages, o)
				}
			}
			if len(sum.Results) != len(want) || sum.Passed != 15 || sum.Failed != 5 || sum.Skipped != 1 ||
				sum.Ignored != 1 || sum.ForcedPass != 1 || sum.ForcedFail != 1 {
				t.Errorf("summary %+v", sum)
			}
			text := out.String()
			for _, s := range []string{
				"FAIL 100000-3 (REQUEST-100-FAKE/100000.yaml:33): expected rules [100001] in the log, got rules fired [] (missing [100001])",
				`FAIL 100000-5 (REQUEST-100-FAKE/100000.yaml:51): expected no log line matching "id \"100001\""`,
				"FAIL 100000-8 (REQUEST-100-FAKE/100000.yaml:83): expected the request to fail, got a response with status 200",
				"FAIL 100000-10 (REQUEST-100-FAKE/100000.yaml:100): expected only rule [100001] in the log (isolated), got rules fired [100001 949110]",
				"FAIL 100000-15 (REQUEST-100-FAKE/100000.yaml:146): forced to fail: forced to fail with a reason",
				"SKIP 100000-14 (ignored: ignored with a reason)",
				"PASS 100000-17 (passed: overridden: the fake WAF answers 200 here)",
			} {
				if !strings.Contains(text, s) {
					t.Errorf("output lacks %q", s)
				}
			}
			if !strings.HasSuffix(text, "ftw: 15 passed, 5 failed, 1 skipped\n") {
				t.Errorf("output does not end with the summary line:\n%s", text)
			}
			if r := got["100000-12"]; len(r.Stages) != 1 || !r.Stages[0].Retried {
				t.Errorf("100000-12 not retried: %+v", r.Stages)
			}
			if r := got["100000-1"]; fmt.Sprint(r.Stages[0].Rules) != "[100001 949110]" {
				t.Errorf("100000-1 rules %v", r.Stages[0].Rules)
			}
			var rep jsonReport
			b, err := os.ReadFile(report)
			if err != nil || json.Unmarshal(b, &rep) != nil {
				t.Fatalf("report: %v", err)
			}
			if rep.Passed != 15 || rep.Failed != 5 || rep.Skipped != 1 || len(rep.Results) != 21 || rep.Mode != "default" {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

func TestRunSelection(t *testing.T) {
	waf, logPath := newFakeWAF(t, false)
	srv := httptest.NewServer(waf)
	defer srv.Close()
	cases := []struct {
		name string
		opts Options
		ran  []string
	}{
		{"include_tags", Options{IncludeTags: "^php$"}, []string{"100100-1"}},
		{"include_wins_over_exclude", Options{Include: "^100000-1$", Exclude: "^100000"}, []string{"100000-1"}},
		{"exclude", Options{Exclude: "^100000-"}, []string{"100100-1", "100100-2"}},
	}
	files := fixtureFiles(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := c.opts
			opts.Target, opts.LogFile, opts.Files, opts.ReportPath = srv.URL, logPath, files, "-"
			sum, err := Run(context.Background(), opts)
			if err != nil {
				t.Fatal(err)
			}
			var ran []string
			for _, r := range sum.Results {
				if r.Outcome != Skipped {
					ran = append(ran, r.Name)
				}
			}
			if fmt.Sprint(ran) != fmt.Sprint(c.ran) || sum.Skipped != 21-len(c.ran) {
				t.Errorf("ran %v, want %v (skipped %d)", ran, c.ran, sum.Skipped)
			}
		})
	}
}

func TestRunCloudMode(t *testing.T) {
	waf, _ := newFakeWAF(t, false)
	waf.noMarker = true // cloud mode sends no markers and reads no log
	srv := httptest.NewServer(waf)
	defer srv.Close()
	sum, err := Run(context.Background(), Options{Target: srv.URL, Files: fixtureFiles(t), Cloud: true, ReportPath: "-", Include: "^100000-(1|2|3|5|6|9)$"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Outcome{
		"100000-1": Passed, // 403 where rules should fire
		"100000-2": Passed, // 200 where none should
		"100000-3": Failed, // 200 where a rule should fire
		"100000-5": Failed, // no_match_regex: 403 is not 200/404/405
		"100000-6": Passed, // the exact expected status (201)
		"100000-9": Failed, // the rule fires but does not block
	}
	for _, r := range sum.Results {
		if o, ok := want[r.Name]; ok && r.Outcome != o {
			t.Errorf("%s: %s (%s / %s), want %s", r.Name, r.Outcome, r.Expected, r.Got, o)
		}
	}
}

func TestRunStopsWhenNoMarkerIsEverFound(t *testing.T) {
	waf, logPath := newFakeWAF(t, false)
	waf.noMarker = true
	srv := httptest.NewServer(waf)
	defer srv.Close()
	cfg := config.Default()
	cfg.MaxMarkerRetries = 2
	_, err := Run(context.Background(), Options{Target: srv.URL, LogFile: logPath, Files: fixtureFiles(t), Config: &cfg, ReportPath: "-"})
	if err == nil || !strings.Contains(err.Error(), "X-CRS-Test header") {
		t.Fatalf("err = %v", err)
	}
}

func TestRunConfigurationErrors(t *testing.T) {
	files := fixtureFiles(t)
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"no_log_file", Options{Files: files}, "no WAF log file"},
		{"missing_log_file", Options{Files: files, LogFile: "/nonexistent/waf.log"}, "nonexistent"},
		{"bad_target", Options{Files: files, Cloud: true, Target: "localhost:80"}, "want http://host:port"},
		{"bad_include", Options{Files: files, Cloud: true, Include: "("}, "--include"},
		{"bad_config_file", Options{Files: files, Cloud: true, ConfigFile: "/nonexistent/.ftw.yaml"}, ".ftw.yaml"},
		{"bad_dir", Options{Cloud: true, Dir: "/nonexistent/tests"}, "nonexistent"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.opts.ReportPath = "-"
			if _, err := Run(context.Background(), c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestRunShards(t *testing.T) {
	// Two WAFs, each with its own log: every test runs on one of them, results come back in
	// test order, and the outcomes are those of a sequential run.
	var shards []Shard
	for range 2 {
		waf, logPath := newFakeWAF(t, false)
		srv := httptest.NewServer(waf)
		defer srv.Close()
		shards = append(shards, Shard{Target: srv.URL, LogFile: logPath})
	}
	opts := Options{Files: fixtureFiles(t), ConfigFile: "../testdata/runner/ftw.yaml",
		OverridesFile: "../testdata/runner/overrides.yaml", ReportPath: "-"}
	seq := opts
	seq.Target, seq.LogFile = shards[0].Target, shards[0].LogFile
	want, err := Run(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	opts.Shards = shards
	got, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if got.Line() != want.Line() || len(got.Results) != len(want.Results) {
		t.Fatalf("sharded %q, sequential %q", got.Line(), want.Line())
	}
	for i, r := range got.Results {
		if r.Name != want.Results[i].Name || r.Outcome != want.Results[i].Outcome {
			t.Errorf("result %d: %s %s, want %s %s", i, r.Name, r.Outcome, want.Results[i].Name, want.Results[i].Outcome)
		}
	}
	for _, sh := range shards {
		if b, _ := os.ReadFile(sh.LogFile); !bytes.Contains(b, []byte("X-CRS-Test")) {
			t.Errorf("shard %s got no test", sh.Target)
		}
	}
	opts.Target = shards[0].Target
	if _, err := Run(context.Background(), opts); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("Shards with Target: err = %v", err)
	}
}
