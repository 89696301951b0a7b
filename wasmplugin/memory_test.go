package wasmplugin

import (
	"strings"
	"testing"
)

// TestCheckGOGCAgreesWithTheRuntime: what runtime.readGOGC takes (strconv.ParseInt base 10,
// 32 bits, or "off") passes, everything it would silently turn into 100 is refused.
func TestCheckGOGCAgreesWithTheRuntime(t *testing.T) {
	for _, v := range []string{"", "off", "100", "+50", "050", "-1", "-0", "2147483647"} {
		t.Setenv(gogcEnv, v)
		if err := checkGOGC(); err != nil {
			t.Errorf("GOGC=%q refused: %v", v, err)
		}
	}
	for _, v := range []string{" 100", "100 ", "OFF", "1_0", "0x10", "2147483648", "fast", "50%"} {
		t.Setenv(gogcEnv, v)
		err := checkGOGC()
		if err == nil || !strings.Contains(err.Error(), "GOGC=") {
			t.Errorf("GOGC=%q: err = %v, want a refusal naming GOGC", v, err)
		}
	}
}

// TestGCWarningOnlyWhenNothingCollects: GOGC off (or negative) without GOMEMLIMIT is warned
// about; with a memory limit, or a positive GOGC, it is not.
func TestGCWarningOnlyWhenNothingCollects(t *testing.T) {
	for _, tc := range []struct {
		gogc, memlimit string
		warn           bool
	}{
		{"off", "", true},
		{"-1", "", true},
		{"off", "32MiB", false},
		{"100", "", false},
		{"", "", false},
	} {
		t.Setenv(gogcEnv, tc.gogc)
		t.Setenv("GOMEMLIMIT", tc.memlimit)
		if got := gcWarning(); (got != "") != tc.warn {
			t.Errorf("GOGC=%q GOMEMLIMIT=%q: warning %q, want one: %v", tc.gogc, tc.memlimit, got, tc.warn)
		}
	}
}
