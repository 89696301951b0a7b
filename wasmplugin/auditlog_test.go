//go:build !wasip1

package wasmplugin_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/internal/wasmtest"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// auditRules make a transaction relevant or not on demand.
var auditRules = []string{
	`SecRule REQUEST_HEADERS:X-Deny "@streq yes" "id:8001,phase:1,deny,status:403,log,msg:'denied'"`,
	`SecRule REQUEST_HEADERS:X-Missing "@streq yes" "id:8002,phase:1,deny,status:404,log,msg:'not found'"`,
	`SecRule REQUEST_HEADERS:X-Audit "@streq yes" "id:8003,phase:1,pass,log,auditlog,msg:'audited'"`,
	`SecRule REQUEST_HEADERS:X-Quiet "@streq yes" "id:8004,phase:1,pass,nolog"`,
}

func auditSet(lines ...string) []string {
	return append(append([]string{"SecRuleEngine On"}, lines...), auditRules...)
}

// auditEntries returns the audit log messages of transaction id: info messages in Coraza's JSON
// or Native format, as opposed to the match lines that also name the transaction.
func auditEntries(logs *wasmtest.LogRecorder, id string) []string {
	var out []string
	for _, l := range logs.Lines() {
		if strings.Contains(l, id) && (strings.HasPrefix(l, `[info] {"transaction":`) || nativeStart.MatchString(l)) {
			out = append(out, l)
		}
	}
	return out
}

// nativeStart is the start of a Native audit entry: a random boundary and part A.
var nativeStart = regexp.MustCompile(`^\[info\] --[0-9A-Za-z]{16}-A--\n`)

// TestAuditLogThroughTheProxyLog drives the compiled module: audit entries go to the proxy log
// at info for every SecAuditLogType a Wasm module can honour. Proxy always writes; Serial and
// Concurrent write there too when a SecAuditLog target is set (the file is never opened) and
// nowhere without one, as in Coraza; SecAuditLogFormat Native and JSON are Coraza's formats;
// SecAuditEngine On audits every transaction, RelevantOnly those whose status matches
// SecAuditLogRelevantStatus (the status of the interruption, in DetectionOnly of the one it
// would have made, or else the upstream's), and without
// that directive those with an auditlog (or log) rule match.
func TestAuditLogThroughTheProxyLog(t *testing.T) {
	sets := map[string][]string{
		"proxy-native": auditSet("SecAuditEngine On", "SecAuditLogType Proxy", "SecAuditLogFormat Native", "SecAuditLogParts ABHZ"),
		"serial": auditSet("SecAuditEngine On", "SecAuditLogType Serial", "SecAuditLog /var/log/coraza/audit.log",
			"SecAuditLogFormat JSON", "SecAuditLogParts ABHZ"),
		"serial-no-target": auditSet("SecAuditEngine On", "SecAuditLogType Serial", "SecAuditLogFormat JSON", "SecAuditLogParts ABHZ"),
		"concurrent": auditSet("SecAuditEngine On", "SecAuditLogType Concurrent", "SecAuditLog /var/log/coraza/index",
			"SecAuditLogStorageDir /var/log/coraza/audit/", "SecAuditLogFormat JSON", "SecAuditLogParts ABHZ"),
		"concurrent-no-target": auditSet("SecAuditEngine On", "SecAuditLogType Concurrent",
			"SecAuditLogStorageDir /var/log/coraza/audit/", "SecAuditLogFormat JSON", "SecAuditLogParts ABHZ"),
		"relevant": auditSet("SecAuditEngine RelevantOnly", `SecAuditLogRelevantStatus "^(?:5|403)"`,
			"SecAuditLogType Proxy", "SecAuditLogFormat JSON", "SecAuditLogParts ABHZ"),
		"relevant-any-status": auditSet("SecAuditEngine RelevantOnly", "SecAuditLogType Proxy", "SecAuditLogFormat JSON", "SecAuditLogParts ABHZ"),
		"relevant-detect": auditSet("SecRuleEngine DetectionOnly", "SecAuditEngine RelevantOnly", `SecAuditLogRelevantStatus "^(?:5|403)"`,
			"SecAuditLogType Proxy", "SecAuditLogFormat JSON", "SecAuditLogParts ABHZ"),
		"off": auditSet("SecAuditEngine Off", "SecAuditLogType Proxy", "SecAuditLogFormat JSON"),
	}
	authorities := map[string]string{}
	for name := range sets {
		authorities[name+".test"] = name
	}
	p, logs := newPlugin(t, map[string]any{"directives_map": sets, "default_directives": "off", "per_authority_directives": authorities})
	for _, want := range []string{
		`[info] meshwaf: SecAuditLog "/var/log/coraza/audit.log" is not opened: a Wasm module has no file system; SecAuditLogType Serial entries go to the proxy log`,
		`[info] meshwaf: SecAuditLog "/var/log/coraza/index" is not opened: a Wasm module has no file system; SecAuditLogType Concurrent entries go to the proxy log`,
	} {
		if n := strings.Count(strings.Join(logs.Lines(), "\n"), want); n != 1 {
			t.Errorf("%d start-up lines %q, want 1", n, want)
		}
	}

	yes := func(h string) [][2]string { return [][2]string{{h, "yes"}} }
	tests := []struct {
		name    string
		set     string
		headers [][2]string
		status  int // the upstream's
		audited bool
	}{
		{"engine_on_benign_audited_native", "proxy-native", nil, 200, true},
		{"serial_with_target_audited_in_proxy_log", "serial", nil, 200, true},
		{"serial_without_target_writes_nothing", "serial-no-target", yes("x-deny"), 200, false},
		{"concurrent_with_target_audited_in_proxy_log", "concurrent", nil, 200, true},
		{"concurrent_without_target_writes_nothing", "concurrent-no-target", yes("x-deny"), 200, false},
		{"relevant_only_without_status_benign_not_audited", "relevant-any-status", nil, 200, false},
		{"relevant_only_denied_403_audited", "relevant", yes("x-deny"), 200, true},
		{"relevant_only_upstream_500_audited", "relevant", nil, 500, true},
		{"relevant_only_benign_not_audited", "relevant", nil, 200, false},
		{"relevant_only_detection_only_would_be_403_audited", "relevant-detect", yes("x-deny"), 200, true},
		{"relevant_only_detection_only_benign_not_audited", "relevant-detect", nil, 200, false},
		{"relevant_only_denied_404_not_relevant_status", "relevant", yes("x-missing"), 200, false},
		// Coraza 3.8.1 filters auditlog matches by the relevant status too, when one is set.
		{"relevant_only_auditlog_rule_with_200_not_audited", "relevant", yes("x-audit"), 200, false},
		{"relevant_only_without_status_auditlog_rule_audited", "relevant-any-status", yes("x-audit"), 200, true},
		{"relevant_only_without_status_denied_with_log_audited", "relevant-any-status", yes("x-missing"), 200, true},
		{"relevant_only_without_status_nolog_match_not_audited", "relevant-any-status", yes("x-quiet"), 500, false},
		{"engine_off_audits_nothing", "off", yes("x-deny"), 200, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := "audit-" + tc.name
			drive(t, p, request{path: "/shop?item=7", authority: tc.set + ".test", status: tc.status,
				headers: append([][2]string{{"x-request-id", id}}, tc.headers...)})
			entries := auditEntries(logs, id)
			if !tc.audited {
				if len(entries) != 0 {
					t.Fatalf("audited: %.200q", entries)
				}
				return
			}
			if len(entries) != 1 {
				t.Fatalf("%d audit entries, want 1; log:\n%s", len(entries), strings.Join(logs.Lines(), "\n"))
			}
			if tc.set != "proxy-native" && !strings.Contains(entries[0], `"id":"`+id+`"`) {
				t.Errorf("JSON entry lacks the transaction id: %.300s", entries[0])
			}
		})
	}
}

// TestAuditLogNativeFormat pins the Native entry: one info message, multi-line, with part A's
// connection line, part B's request line and headers, and the closing part Z.
func TestAuditLogNativeFormat(t *testing.T) {
	p, logs := newPlugin(t, oneSet(auditSet("SecAuditEngine On", "SecAuditLogType Proxy", "SecAuditLogFormat Native", "SecAuditLogParts ABHZ")...))
	const id = "native-entry-1"
	drive(t, p, request{path: "/native?x=1", authority: "native.test", headers: [][2]string{{"x-request-id", id}, {"x-audit", "yes"}},
		conn: wasmhost.StreamInfo{SourceAddress: "[2001:db8::7]:61000", DestinationAddress: "10.0.0.1:8443", Protocol: "HTTP/2"}})
	entries := auditEntries(logs, id)
	if len(entries) != 1 {
		t.Fatalf("%d audit entries, want 1; log:\n%s", len(entries), strings.Join(logs.Lines(), "\n"))
	}
	e := entries[0]
	want := regexp.MustCompile(`^\[info\] (--[0-9A-Za-z]{16}-)A--\n\[[^\]]+\] ` + id + ` 2001:db8::7 61000 10\.0\.0\.1 8443\n` +
		`--[0-9A-Za-z]{16}-B--\nGET /native\?x=1 HTTP/2\n`)
	m := want.FindStringSubmatch(e)
	if m == nil {
		t.Fatalf("Native entry does not start with parts A and B as expected:\n%s", e)
	}
	for _, s := range []string{"\nhost: native.test\n", "\nx-audit: yes\n", m[1] + "H--\n", `[id "8003"]`, m[1] + "Z--"} {
		if !strings.Contains(e, s) {
			t.Errorf("Native entry lacks %q:\n%s", s, e)
		}
	}
}
