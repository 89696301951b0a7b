package harness

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSmoke sends the requests every deployment must answer right through envoy.yaml's
// configuration (full CRS, blocking): a benign request reaches the backend, attacks in the
// query, a form body and a response body and a scanner's User-Agent are answered 403, and
// the log names the rules. static.example.com has its own directive set there (GET and HEAD
// only, no CRS), so the same requests get other verdicts for it.
func TestSmoke(t *testing.T) {
	for _, k := range Kinds(t) {
		t.Run(string(k), func(t *testing.T) {
			tg := Start(t, k, "envoy.yaml")
			leak, _ := json.Marshal(map[string]any{
				"status":  200,
				"headers": map[string]string{"Content-Type": "text/html"},
				// Base64, so the request itself carries no attack: only the response does.
				"encodedBody": base64.StdEncoding.EncodeToString([]byte(
					"<html><body>You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near '1'' at line 1</body></html>")),
			})
			cases := []struct {
				name        string
				host        string // default app.example.com: the CRS set
				userAgent   string // default meshwaf-e2e/1.0
				method      string
				path        string
				contentType string
				body        string
				status      int
				ruleIDs     []string // in the log after the request
			}{
				{name: "benign_get_reaches_backend", method: "GET", path: "/hello?name=meshwaf", status: 200},
				{name: "benign_form_post_reaches_backend", method: "POST", path: "/login", contentType: "application/x-www-form-urlencoded", body: "user=alice&remember=on", status: 200},
				{name: "sqli_in_query_blocked", method: "GET", path: "/?id=1%27%20OR%20%271%27%3D%271%27%20--", status: 403, ruleIDs: []string{"942100", "949110"}},
				{name: "xss_in_query_blocked", method: "GET", path: "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", status: 403, ruleIDs: []string{"941100", "949110"}},
				{name: "xss_in_form_body_blocked", method: "POST", path: "/comment", contentType: "application/x-www-form-urlencoded", body: "text=%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E", status: 403, ruleIDs: []string{"941100", "949110"}},
				{name: "scanner_user_agent_blocked", method: "GET", path: "/", userAgent: "sqlmap/1.7.2#stable (https://sqlmap.org)", status: 403, ruleIDs: []string{"913100", "949110"}},
				// Per authority: the CRS set blocks the SQLi above for app.example.com; the
				// static set lets it through and refuses a POST the CRS set lets through.
				{name: "static_authority_own_set_passes_sqli", host: "static.example.com", method: "GET", path: "/?id=1%27%20OR%20%271%27%3D%271%27%20--", status: 200},
				{name: "static_authority_own_set_refuses_post", host: "static.example.com", method: "POST", path: "/login", contentType: "application/x-www-form-urlencoded", body: "user=alice&remember=on", status: 405, ruleIDs: []string{"100001"}},
				{name: "sql_error_in_response_body_blocked", method: "POST", path: "/reflect", contentType: "application/json", body: string(leak), status: 403, ruleIDs: []string{"951230", "959100"}},
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					before := logSize(t, tg.LogFile)
					req, err := http.NewRequest(c.method, tg.URL+c.path, strings.NewReader(c.body))
					if err != nil {
						t.Fatal(err)
					}
					req.Host = cmp.Or(c.host, "app.example.com")
					req.Header.Set("User-Agent", cmp.Or(c.userAgent, "meshwaf-e2e/1.0"))
					req.Header.Set("Accept", "text/html")
					if c.contentType != "" {
						req.Header.Set("Content-Type", c.contentType)
					}
					resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
					if err != nil {
						t.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != c.status {
						t.Errorf("status %d, want %d", resp.StatusCode, c.status)
					}
					if len(c.ruleIDs) == 0 {
						return
					}
					log := waitLog(t, tg.LogFile, before, c.ruleIDs)
					for _, id := range c.ruleIDs {
						if !strings.Contains(log, fmt.Sprintf(`[id "%s"]`, id)) {
							t.Errorf("log lacks rule %s; rules logged: %v\n%s", id, ruleIDs(log), tail(log, 3000))
						}
					}
				})
			}
		})
	}
}

var ruleIDRe = regexp.MustCompile(`\[id "(\d+)"\]`)

func ruleIDs(log string) []string {
	var ids []string
	for _, m := range ruleIDRe.FindAllStringSubmatch(log, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func logSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// waitLog returns what the log gained after offset once every id shows (logs are written
// asynchronously by Envoy), or after a few seconds.
func waitLog(t *testing.T, path string, offset int64, ids []string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if offset > int64(len(data)) {
			offset = 0
		}
		s := string(data[offset:])
		all := true
		for _, id := range ids {
			all = all && strings.Contains(s, fmt.Sprintf(`[id "%s"]`, id))
		}
		if all || time.Now().After(deadline) {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
