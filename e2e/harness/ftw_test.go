package harness

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/meshwaf/meshwaf/ftw"
	ftwrunner "github.com/meshwaf/meshwaf/ftw/runner"
)

// ftwSubset picks CRS regression tests across the request phases and the response side
// (protocol enforcement, LFI, RCE, XSS, SQLi, SQL error leakage); `go run mage.go ftw` runs
// them all against the local runner.
const ftwSubset = `^(920160|930100|932160|941100|942100|951220)-`

// TestFTWSubset runs part of the CRS regression suite through envoy-ftw.yaml's configuration,
// with meshwaf's FTW configuration and overrides, judging statuses and the WAF's log.
func TestFTWSubset(t *testing.T) {
	for _, k := range Kinds {
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
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			sum, err := ftwrunner.Run(ctx, ftwrunner.Options{
				Target:     tg.URL,
				LogFile:    tg.LogFile,
				Config:     &cfg,
				Overrides:  ov,
				Include:    ftwSubset,
				ReportPath: "-",
				Out:        &out,
			})
			t.Log(out.String())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Failed > 0 {
				t.Errorf("%d FTW test(s) failed", sum.Failed)
			}
			if sum.Passed < 20 {
				t.Errorf("only %d FTW tests passed: the subset %s no longer selects what it should", sum.Passed, ftwSubset)
			}
		})
	}
}
