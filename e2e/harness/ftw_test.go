package harness

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/meshwaf/meshwaf/ftw"
	ftwrunner "github.com/meshwaf/meshwaf/ftw/runner"
)

// ftwSubset picks CRS regression tests across the request phases and the response side
// (protocol enforcement, LFI, RCE, XSS, SQLi, SQL error leakage); `go run mage.go ftw` runs
// them all against the local runner.
const ftwSubset = `^(920160|930100|932160|941100|942100|951220)-`

// EnvFTW set to "full" (as `go run mage.go e2e` does) makes TestFTW run the whole suite
// (4,674 tests, minutes) instead of ftwSubset.
const EnvFTW = "MESHWAF_E2E_FTW"

// TestFTW runs the CRS regression suite, ftwSubset by default, through envoy-ftw.yaml's
// configuration, with meshwaf's FTW configuration and overrides, judging statuses and the
// WAF's log (Envoy's --log-path, the runner's --log-file) for the rule ids.
func TestFTW(t *testing.T) {
	include, minPassed, timeout := ftwSubset, 20, 10*time.Minute
	switch v := os.Getenv(EnvFTW); v {
	case "":
	case "full":
		include, minPassed, timeout = "", 4000, 40*time.Minute
	default:
		t.Fatalf("%s=%q: want full or nothing", EnvFTW, v)
	}
	for _, k := range Kinds(t) {
		t.Run(string(k), func(t *testing.T) {
			tg := Start(t, k, "envoy-ftw.yaml")
			cfg, err := ftw.Config()
			if err != nil {
				t.Fatal(err)
			}
			ov, err := ftw.Overrides()
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			sum, err := ftwrunner.Run(ctx, ftwrunner.Options{
				Target:    tg.URL,
				LogFile:   tg.LogFile,
				Config:    &cfg,
				Overrides: ov,
				Include:   include,
				// As `go run mage.go ftw`: some tests (920390-1, a 64 KiB argument list) take
				// more than the client's 10 s default in a wasm WAF on a busy machine.
				ReadTimeout: 3 * time.Minute,
				ReportPath:  "-",
				Out:         &out,
			})
			t.Log(out.String())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Failed > 0 {
				t.Errorf("%d FTW test(s) failed", sum.Failed)
			}
			t.Logf("%s: %d passed, %d failed, %d skipped", k, sum.Passed, sum.Failed, sum.Skipped)
			if sum.Passed < minPassed {
				t.Errorf("only %d FTW tests passed, want at least %d: --include %q no longer selects what it should", sum.Passed, minPassed, include)
			}
		})
	}
}
