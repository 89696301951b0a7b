package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI against a WAF that logs markers and nothing else, on two fixture tests: one passes,
// one expects a rule that never fires.
func TestRunCLI(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "waf.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	waf := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("X-CRS-Test"); v != "" {
			logFile.WriteString(`[id "999999"] [msg "X-CRS-Test ` + v + `"]` + "\n")
		}
	}))
	defer waf.Close()
	report := filepath.Join(dir, "report.json")
	var out, errOut bytes.Buffer
	code := run([]string{"--target", waf.URL, "--log-file", logPath, "--dir", "../../ftw/testdata/runner/tests",
		"--include", `^100000-(2|3)$`, "--report", report}, &out, &errOut)
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "FAIL 100000-3") || !strings.HasSuffix(out.String(), "ftw: 1 passed, 1 failed, 19 skipped\n") {
		t.Errorf("stdout:\n%s", out.String())
	}
	if _, err := os.Stat(report); err != nil {
		t.Errorf("report: %v", err)
	}
	if code := run([]string{"--target", waf.URL, "--log-file", logPath, "--dir", "../../ftw/testdata/runner/tests",
		"--include", `^100000-2$`, "--exclude", ".", "--report", "-"}, &out, &errOut); code != 0 {
		t.Errorf("all passing: exit %d", code)
	}
	if code := run([]string{"--bogus"}, &out, &errOut); code != 2 {
		t.Errorf("bad flag: exit %d", code)
	}
}
