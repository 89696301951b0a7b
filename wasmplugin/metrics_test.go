package wasmplugin

import (
	"regexp"
	"slices"
	"sort"
	"testing"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"
)

// extractTags applies stats_tags the way Envoy's TagExtractorImpl does: every regex runs on the
// original name, the first group is cut from the name and the second is the value.
func extractTags(t *testing.T, name string, specs []StatsTag) (string, map[string]string) {
	t.Helper()
	tags := map[string]string{}
	type cut struct{ start, end int }
	var cuts []cut
	for _, s := range specs {
		re := regexp.MustCompile(s.Regex)
		m := re.FindStringSubmatchIndex(name)
		if m == nil {
			continue
		}
		if len(m) < 6 {
			t.Fatalf("regex %s needs two groups", s.Regex)
		}
		tags[s.TagName] = name[m[4]:m[5]]
		cuts = append(cuts, cut{m[2], m[3]})
	}
	sort.Slice(cuts, func(i, j int) bool { return cuts[i].start > cuts[j].start })
	for _, c := range cuts {
		name = name[:c.start] + name[c.end:]
	}
	return name, tags
}

func TestMetricNamesSurviveEnvoyTagExtraction(t *testing.T) {
	labels := map[string]string{"owner": "Team_A", "app.name": "shop"}
	tests := []struct {
		name     string
		emit     func(m *metrics)
		wantStat string
		wantTags map[string]string
	}{
		{
			name:     "interruption_with_hyphen_and_port",
			emit:     func(m *metrics) { m.interruption(942100, types.PhaseRequestBody, "my-api.example.com:8080") },
			wantStat: "wasmcustom.waf_filter.tx.interruptions",
			wantTags: map[string]string{"ruleid": "942100", "phase": "request-body", "authority": "my-api.example.com-8080", "owner": "team-a", "appname": "shop"},
		},
		{
			name:     "interruption_ipv6_authority",
			emit:     func(m *metrics) { m.interruption(949110, types.PhaseRequestHeaders, "[::1]:80") },
			wantStat: "wasmcustom.waf_filter.tx.interruptions",
			wantTags: map[string]string{"ruleid": "949110", "phase": "request-headers", "authority": "---1--80", "owner": "team-a", "appname": "shop"},
		},
		{
			name:     "interruption_wildcard_route",
			emit:     func(m *metrics) { m.interruption(949110, types.PhaseRequestBody, "*.example.com") },
			wantStat: "wasmcustom.waf_filter.tx.interruptions",
			wantTags: map[string]string{"ruleid": "949110", "phase": "request-body", "authority": "-.example.com", "owner": "team-a", "appname": "shop"},
		},
		{
			name:     "matched_rule_category",
			emit:     func(m *metrics) { m.matchedRule("multipart-header", "shop_1.local") },
			wantStat: "wasmcustom.waf_filter.tx.matched_rules",
			wantTags: map[string]string{"category": "multipart-header", "authority": "shop-1.local", "owner": "team-a", "appname": "shop"},
		},
		{
			name:     "failure_open",
			emit:     func(m *metrics) { m.failure(FailOpen, types.PhaseResponseBody, "api.example.com:8080") },
			wantStat: "wasmcustom.waf_filter.tx.failures",
			wantTags: map[string]string{"mode": "open", "phase": "response-body", "authority": "api.example.com-8080", "owner": "team-a", "appname": "shop"},
		},
		{
			name:     "failure_before_the_transaction",
			emit:     func(m *metrics) { m.failure(FailClosed, 0, "") },
			wantStat: "wasmcustom.waf_filter.tx.failures",
			wantTags: map[string]string{"mode": "closed", "phase": "none", "authority": "none", "owner": "team-a", "appname": "shop"},
		},
		{
			name:     "total",
			emit:     func(m *metrics) { m.transaction() },
			wantStat: "wasmcustom.waf_filter.tx.total",
			wantTags: map[string]string{"owner": "team-a", "appname": "shop"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var names []string
			m := newMetrics(labels, func(n string) (counter, error) {
				names = append(names, n)
				return nopCounter{}, nil
			}, func(err error) { t.Fatal(err) })
			tc.emit(m)
			if len(names) != 1 {
				t.Fatalf("defined %v", names)
			}
			// Envoy prefixes custom metrics of Wasm modules with "wasmcustom.".
			stat, tags := extractTags(t, "wasmcustom."+names[0], StatsTags(labels))
			if stat != tc.wantStat {
				t.Errorf("name %s: stat left %q, want %q", names[0], stat, tc.wantStat)
			}
			if len(tags) != len(tc.wantTags) {
				t.Errorf("name %s: tags %v, want %v", names[0], tags, tc.wantTags)
			}
			for k, v := range tc.wantTags {
				if tags[k] != v {
					t.Errorf("name %s: tag %s = %q, want %q", names[0], k, tags[k], v)
				}
			}
		})
	}
}

func TestMetricsDefinedOnce(t *testing.T) {
	defined := 0
	m := newMetrics(nil, func(string) (counter, error) { defined++; return nopCounter{}, nil }, func(err error) { t.Fatal(err) })
	for range 3 {
		m.interruption(1, types.PhaseRequestHeaders, "a")
	}
	if defined != 1 {
		t.Fatalf("defined %d times", defined)
	}
}

func TestAttackCategory(t *testing.T) {
	if got := attackCategory([]string{"application-multi", "attack-sqli", "paranoia-level/1"}); got != "sqli" {
		t.Fatalf("got %q", got)
	}
	if got := attackCategory([]string{"OWASP_CRS"}); got != "" {
		t.Fatalf("got %q", got)
	}
}

type nopCounter struct{}

func (nopCounter) Increment(int64) error { return nil }

func TestCountMatchesCountsDetectionsOnly(t *testing.T) {
	waf, err := coraza.NewWAF(coraza.NewWAFConfig().WithDirectives(`
SecRuleEngine On
SecRule ARGS:a "@streq x" "id:1,phase:1,pass,log,msg:'detected',tag:'attack-sqli'"
SecRule ARGS:a "@streq x" "id:2,phase:1,pass,nolog,tag:'attack-disclosure'"
SecRule ARGS:a "@streq x" "id:3,phase:1,pass,log,tag:'attack-rce'"
SecRule ARGS:a "@streq x" "id:4,phase:1,pass,nolog,msg:'quiet',tag:'attack-lfi'"
`))
	if err != nil {
		t.Fatal(err)
	}
	tx := waf.NewTransaction()
	defer tx.Close()
	tx.ProcessURI("/?a=x", "GET", "HTTP/1.1")
	tx.ProcessRequestHeaders()
	var names []string
	p := &plugin{metrics: newMetrics(nil, func(n string) (counter, error) {
		names = append(names, n)
		return nopCounter{}, nil
	}, func(err error) { t.Fatal(err) })}
	p.countMatches(tx, "default")
	if want := []string{"waf_filter.tx.category=.=sqli;.;authority=.=default;.;matched_rules"}; !slices.Equal(names, want) {
		t.Fatalf("counted %q, want %q", names, want)
	}
}

// TestStatsTagsAreIstiosRegexes: every shipped stats_tags entry is the regex Istio generates
// for that name in extraStatTags (its bootstrap template: "(<tag>=\.=(.*?);\.;)"), so the two
// ways of labelling the metrics cannot drift apart; and there is one per tag the plugin sets.
func TestStatsTagsAreIstiosRegexes(t *testing.T) {
	tags := StatsTags(map[string]string{"Owner": "x"})
	var names []string
	for _, tag := range tags {
		names = append(names, tag.TagName)
		if want := "(" + tag.TagName + `=\.=(.*?);\.;)`; tag.Regex != want {
			t.Errorf("tag %s: regex %s, want Istio's %s", tag.TagName, tag.Regex, want)
		}
	}
	if want := append(slices.Clone(reservedTags), "owner"); !slices.Equal(names, want) {
		t.Errorf("tags %v, want %v", names, want)
	}
}
