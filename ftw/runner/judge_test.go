package runner

import (
	"errors"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/ftw/client"
	"github.com/meshwaf/meshwaf/ftw/config"
	"github.com/meshwaf/meshwaf/ftw/test"
)

func TestJudge(t *testing.T) {
	yes := true
	resp := func(status int) *client.Response {
		return &client.Response{StatusCode: status, Raw: []byte("HTTP/1.1 " + map[int]string{200: "200 OK", 403: "403 Forbidden"}[status] + "\r\nX-Id: abc\r\n\r\nbody")}
	}
	logged := observation{resp: resp(403), lines: [][]byte{[]byte(`[id "942100"] [msg "SQL Injection Attack Detected via libinjection"]`), []byte(`[id "949110"]`)}, ids: []uint{942100, 949110}}
	clean := observation{resp: resp(200)}
	failed := observation{err: errors.New("connection reset")}
	cases := []struct {
		name string
		out  test.Output
		obs  observation
		mode config.Mode
		want string // "" for a pass, else a substring of "expected …, got …"
	}{
		{"status_match", test.Output{Status: 403}, logged, config.ModeDefault, ""},
		{"status_mismatch", test.Output{Status: 403}, clean, config.ModeDefault, "expected status 403, got status 200"},
		{"no_expectations_pass", test.Output{}, clean, config.ModeDefault, ""},
		{"response_contains_headers", test.Output{ResponseContains: `X-Id: a.c`}, clean, config.ModeDefault, ""},
		{"response_contains_miss", test.Output{ResponseContains: `nope`}, clean, config.ModeDefault, `expected response matching "nope"`},
		{"expect_ids", test.Output{Log: test.Log{ExpectIDs: []uint{942100}}}, logged, config.ModeDefault, ""},
		{"expect_ids_missing", test.Output{Log: test.Log{ExpectIDs: []uint{942100, 942101}}}, logged, config.ModeDefault, "(missing [942101])"},
		{"no_expect_ids_fired", test.Output{Log: test.Log{NoExpectIDs: []uint{1, 949110}}}, logged, config.ModeDefault, "(unwanted [949110])"},
		{"no_expect_ids_clean", test.Output{Log: test.Log{NoExpectIDs: []uint{942100}}}, clean, config.ModeDefault, ""},
		{"match_regex", test.Output{Log: test.Log{MatchRegex: `libinjection`}}, logged, config.ModeDefault, ""},
		{"match_regex_miss", test.Output{Log: test.Log{MatchRegex: `XSS`}}, logged, config.ModeDefault, `expected a log line matching "XSS", got none in 2 lines`},
		{"no_match_regex_hit", test.Output{Log: test.Log{NoMatchRegex: `SQL`}}, logged, config.ModeDefault, `expected no log line matching "SQL"`},
		{"isolated_two_rules", test.Output{Isolated: true, Log: test.Log{ExpectIDs: []uint{942100}}}, logged, config.ModeDefault, "(isolated)"},
		{"status_checked_before_log", test.Output{Status: 200, Log: test.Log{ExpectIDs: []uint{1}}}, logged, config.ModeDefault, "status 200"},
		{"expect_error_ok", test.Output{ExpectError: &yes, Status: 200}, failed, config.ModeDefault, ""},
		{"expect_error_got_response", test.Output{ExpectError: &yes}, clean, config.ModeDefault, "expected the request to fail, got a response with status 200"},
		{"unexpected_error", test.Output{Status: 200}, failed, config.ModeDefault, "got error: connection reset"},
		{"cloud_positive_403", test.Output{Log: test.Log{ExpectIDs: []uint{5}}}, logged, config.ModeCloud, ""},
		{"cloud_positive_200", test.Output{Log: test.Log{MatchRegex: "x"}}, clean, config.ModeCloud, "expected status 403 (cloud mode), got status 200"},
		{"cloud_negative_200", test.Output{Log: test.Log{NoExpectIDs: []uint{942100}}}, clean, config.ModeCloud, ""},
		{"cloud_negative_403", test.Output{Log: test.Log{NoMatchRegex: "x"}}, logged, config.ModeCloud, "200/404/405"},
		{"cloud_exact_status", test.Output{Status: 200, Log: test.Log{ExpectIDs: []uint{1}}}, clean, config.ModeCloud, ""},
		{"cloud_ignores_log_lines", test.Output{Status: 403, Log: test.Log{NoExpectIDs: []uint{942100}, MatchRegex: "nope"}}, logged, config.ModeCloud, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := judge(c.out, c.obs, c.mode)
			switch {
			case c.want == "" && !v.passed():
				t.Errorf("failed: %s", v)
			case c.want != "" && (v.passed() || !strings.Contains(v.String(), c.want)):
				t.Errorf("got %q, want it to contain %q", v, c.want)
			}
		})
	}
}

func TestBuildRequest(t *testing.T) {
	s := func(v string) *string { return &v }
	cases := []struct {
		name string
		in   test.Input
		want string
	}{
		{"defaults", test.Input{}, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n"},
		{"map_headers_sorted", test.Input{Method: s("OPTIONS"), Headers: map[string]string{"b": "2", "A": "1"}, AutocompleteHeaders: new(bool)},
			"OPTIONS / HTTP/1.1\r\nA: 1\r\nb: 2\r\n\r\n"},
		{"ordered_headers_in_order", test.Input{OrderedHeaders: []test.Header{{Name: "Z", Value: "1"}, {Name: "A", Value: "2"}}, StopMagic: func() *bool { b := true; return &b }()},
			"GET / HTTP/1.1\r\nZ: 1\r\nA: 2\r\n\r\n"},
		{"encoded_data_verbatim_body", test.Input{Method: s("POST"), EncodedData: s("AAE="), Headers: map[string]string{"Content-Type": "application/octet-stream"}},
			"POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: 2\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01"},
		{"encoded_request_wins", test.Input{Method: s("POST"), EncodedRequest: "R0VUIC8gSFRUUC8wLjkNCg0K"}, "GET / HTTP/0.9\r\n\r\n"},
		{"template_data", test.Input{Method: s("POST"), Data: s(`x={{ "1" | repeat 3 }}`), AutocompleteHeaders: new(bool)}, "POST / HTTP/1.1\r\n\r\nx=111"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := buildRequest(c.in)
			if err != nil || string(b) != c.want {
				t.Errorf("got %q (%v), want %q", b, err, c.want)
			}
		})
	}
}
