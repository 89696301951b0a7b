package runner

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmbuild"
)

// What `go run mage.go run` promises a newcomer: the real plugin with the default full-CRS
// configuration lets benign traffic through and answers 403 to common attacks.
func TestDefaultConfigurationBlocksCommonAttacks(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds the full plugin and loads the whole CRS (-short)")
	}
	module := wasmbuild.ForTest(t, "github.com/meshwaf/meshwaf")
	logFile := filepath.Join(t.TempDir(), "waf.log")
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Start(ctx, Options{Listen: "127.0.0.1:0", Module: module, LogFile: logFile, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	}()
	base := "http://" + s.Addr()

	for _, tc := range []struct {
		name   string
		method string
		target string
		body   string
		header [2]string
		want   int
	}{
		{"benign_get_passes", "GET", "/index.html?a=1", "", [2]string{}, 200},
		{"sqli_in_query_blocked", "GET", "/?id=" + url.QueryEscape("1' OR '1'='1"), "", [2]string{}, 403},
		{"xss_in_form_body_blocked", "POST", "/comment", "text=" + url.QueryEscape("<script>alert(1)</script>"), [2]string{"Content-Type", "application/x-www-form-urlencoded"}, 403},
		{"sqlmap_user_agent_blocked", "GET", "/", "", [2]string{"User-Agent", "sqlmap/1.7.2#stable (https://sqlmap.org)"}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+tc.target, strings.NewReader(tc.body))
			if tc.header[0] != "" {
				req.Header.Set(tc.header[0], tc.header[1])
			}
			if resp := do(t, req); resp.StatusCode != tc.want {
				t.Fatalf("%s %s: status %d, want %d", tc.method, tc.target, resp.StatusCode, tc.want)
			}
		})
	}
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	// The CRS's blocking evaluation rule names the anomaly score in Coraza's error-log form.
	if !strings.Contains(string(data), `[id "949110"]`) {
		t.Errorf("plugin log lacks the CRS blocking rule 949110:\n%.2000s", data)
	}
}
