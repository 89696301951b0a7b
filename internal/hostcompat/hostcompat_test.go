package hostcompat

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/internal/runner"
	"github.com/meshwaf/meshwaf/internal/wasmbuild"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// The real plugin with the full CRS loads and blocks the same under both host generations.
func TestPluginSmokeUnderEveryHostProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: builds the full plugin and loads the whole CRS twice (-short)")
	}
	path := wasmbuild.ForTest(t, "github.com/meshwaf/meshwaf")
	ctx := context.Background()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "hello")
	}))
	defer upstream.Close()

	for _, hp := range []struct {
		name    string
		profile wasmhost.HostProfile
	}{{"cpphost427_envoy_1.33", wasmhost.CppHost427}, {"cpphost533_envoy_1.39", wasmhost.CppHost533}} {
		profile := hp.profile
		t.Run(hp.name, func(t *testing.T) {
			m, err := wasmhost.CompileFile(ctx, path, wasmhost.WithHostProfile(profile))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			p, err := m.NewPlugin(ctx, wasmhost.WithPluginConfig([]byte(runner.DefaultPluginConfig)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close(ctx)
			proxy, err := wasmhost.NewProxy(p, upstream.URL)
			if err != nil {
				t.Fatal(err)
			}
			front := httptest.NewServer(proxy)
			defer front.Close()
			for _, tc := range []struct {
				name, method, target, body string
				want                       int
			}{
				{"benign_get_passes", "GET", "/index.html?a=1", "", 200},
				{"sqli_in_query_blocked", "GET", "/?id=" + url.QueryEscape("1' OR '1'='1"), "", 403},
				{"xss_in_form_body_blocked", "POST", "/comment", "text=" + url.QueryEscape("<script>alert(1)</script>"), 403},
				{"large_benign_body_passes", "POST", "/upload", "text=" + strings.Repeat("hello world ", 20000), 200},
			} {
				t.Run(tc.name, func(t *testing.T) {
					req, _ := http.NewRequest(tc.method, front.URL+tc.target, strings.NewReader(tc.body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != tc.want {
						t.Errorf("%s %s: status %d, want %d", tc.method, tc.target, resp.StatusCode, tc.want)
					}
				})
			}
		})
	}
}
