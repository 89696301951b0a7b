package config

import (
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/ftw/test"
)

const sampleConfig = `---
logfile: /var/log/waf.log
logmarkerheadername: X-Marker
mode: cloud
maxmarkerretries: 5
maxmarkerloglines: 100
include: '^9201'
exclude: '-1$'
include_tags: 'php'
custom_log_id_regex: 'rule=(\d+)'
testoverride:
  input:
    dest_addr: 10.0.0.1
    port: 8080
    override_empty_host_header: true
    headers:
      X-Extra: yes
    stop_magic: true
  ignore:
    '920100-2': 'Go cannot send a tab before the method'
    '^9202': 'second reason'
  forcefail:
    920100-2: 'listed twice: ignore wins'
  forcepass:
    '930': 'pass them'
`

func TestParse(t *testing.T) {
	c, err := Parse(".ftw.yaml", []byte(sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogFile != "/var/log/waf.log" || c.LogMarkerHeaderName != "X-Marker" || c.Mode != ModeCloud ||
		c.MaxMarkerRetries != 5 || c.MaxMarkerLogLines != 100 {
		t.Errorf("scalars: %+v", c)
	}
	if !c.Include.MatchString("920100-3") || !c.Exclude.MatchString("920100-1") || !c.IncludeTags.MatchString("php") ||
		c.CustomLogIDRegex.String() != `rule=(\d+)` {
		t.Errorf("regexps: %+v", c)
	}
	if len(c.Ignore) != 2 || c.Ignore[0].Reason != "Go cannot send a tab before the method" || c.Ignore[1].Pattern.String() != "^9202" {
		t.Errorf("ignore keeps file order: %+v", c.Ignore)
	}
	for _, v := range []struct{ name, kind, reason string }{
		{"920100-2", "ignore", "Go cannot send a tab before the method"},
		{"920200-1", "ignore", "second reason"},
		{"930100-1", "forcepass", "pass them"},
		{"941100-1", "", ""},
	} {
		if kind, reason := c.Verdict(v.name); kind != v.kind || reason != v.reason {
			t.Errorf("Verdict(%s) = %q %q, want %q %q", v.name, kind, reason, v.kind, v.reason)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("empty", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if c.LogMarkerHeaderName != "X-CRS-Test" || c.Mode != ModeDefault || c.MaxMarkerRetries != 20 || c.MaxMarkerLogLines != 500 {
		t.Errorf("defaults: %+v", c)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"bad_mode", "mode: lazy\n", `mode: "lazy"`},
		{"bad_include", "include: '('\n", "x.yaml: include:"},
		{"bad_ignore_regexp", "testoverride:\n  ignore:\n    '(': r\n", `testoverride.ignore["("]`},
		{"custom_without_group", "custom_log_id_regex: 'id'\n", "capture group"},
		{"type_error", "maxmarkerretries: many\n", "x.yaml line 1"},
		{"zero_retries", "maxmarkerretries: 0\n", "at least 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestInputOverrideApply(t *testing.T) {
	c, err := Parse(".ftw.yaml", []byte(sampleConfig))
	if err != nil {
		t.Fatal(err)
	}
	orig := test.Input{DestAddr: ptr("127.0.0.1"), Port: ptr(80), Headers: map[string]string{"User-Agent": "a"}}
	in := c.Input.Apply(orig)
	if in.GetDestAddr() != "10.0.0.1" || in.GetPort() != 8080 || in.Headers["Host"] != "10.0.0.1" ||
		in.Headers["X-Extra"] != "yes" || in.Autocomplete() {
		t.Errorf("applied: %+v %v", in, in.Headers)
	}
	if len(orig.Headers) != 1 {
		t.Errorf("original headers modified: %v", orig.Headers)
	}
	if got := (InputOverride{}).Apply(orig); got.GetDestAddr() != "127.0.0.1" || !got.Autocomplete() {
		t.Errorf("empty override changed input: %+v", got)
	}
}

const sampleOverrides = `---
version: v0.1.0
meta:
  engine: coraza
  platform: meshwaf
test_overrides:
  - rule_id: 920100
    test_ids: [2, 3]
    reason: Envoy rejects the request line before the WAF sees it
    output:
      status: 400
  - rule_id: 942340
    stage_ids: [1]
    retry_once: true
    reason: only the second stage differs
    output:
      log_contains: 'id "942340"'
`

func TestOverrides(t *testing.T) {
	o, err := ParseOverrides("o.yaml", []byte(sampleOverrides))
	if err != nil {
		t.Fatal(err)
	}
	if o.Meta.Platform != "meshwaf" || len(o.TestOverrides) != 2 {
		t.Fatalf("%+v", o)
	}
	stage := test.Stage{Output: test.Output{Log: test.Log{ExpectIDs: []uint{920100}}}}
	t2 := test.Test{RuleID: 920100, TestID: 2, Stages: []test.Stage{stage}}
	got, reasons := o.Apply(t2)
	if got.Stages[0].Output.Status != 400 || len(got.Stages[0].Output.Log.ExpectIDs) != 0 || len(reasons) != 1 {
		t.Errorf("920100-2: %+v %v", got.Stages[0].Output, reasons)
	}
	if len(t2.Stages[0].Output.Log.ExpectIDs) != 1 {
		t.Error("Apply modified its argument")
	}
	if _, reasons := o.Apply(test.Test{RuleID: 920100, TestID: 1, Stages: []test.Stage{stage}}); len(reasons) != 0 {
		t.Error("920100-1 is not listed")
	}
	multi := test.Test{RuleID: 942340, TestID: 8, Stages: []test.Stage{stage, stage}}
	got, _ = o.Apply(multi)
	if got.Stages[0].Output.Log.MatchRegex != "" || got.Stages[1].Output.Log.MatchRegex != `id "942340"` || !got.Stages[1].Output.Retries() {
		t.Errorf("stage_ids: %+v", got.Stages)
	}
}

func TestOverridesErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"no reason":   "test_overrides:\n  - rule_id: 1\n",
		"no rule_id":  "test_overrides:\n  - reason: x\n",
		"bad regex":   "test_overrides:\n  - rule_id: 1\n    reason: x\n    output:\n      response_contains: '('\n",
		"yaml syntax": "test_overrides: [\n",
	} {
		if _, err := ParseOverrides("o.yaml", []byte(doc)); err == nil || !strings.Contains(err.Error(), "o.yaml") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
