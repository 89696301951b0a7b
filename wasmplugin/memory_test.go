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
		settings gcSettings
		warn     bool
	}{
		{gcSettings{percent: -1, fromEnv: "off"}, true},
		{gcSettings{percent: -1, fromEnv: "-1"}, true},
		{gcSettings{percent: -1, limit: 32 << 20, fromEnv: "off"}, false},
		{gcSettings{percent: 100, fromEnv: "100"}, false},
		{gcSettings{percent: 50}, false},
	} {
		got := tc.settings.warning()
		if (got != "") != tc.warn {
			t.Errorf("%+v: warning %q, want one: %v", tc.settings, got, tc.warn)
		}
		if got != "" && !strings.Contains(got, "GOGC="+tc.settings.fromEnv+" without GOMEMLIMIT") {
			t.Errorf("%+v: warning %q does not name the setting", tc.settings, got)
		}
	}
}
