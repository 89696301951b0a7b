package observability

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"

	"github.com/meshwaf/meshwaf/e2e/envoy"
	"github.com/meshwaf/meshwaf/e2e/internal/plugin"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// customNamespace is the stats namespace Envoy's Wasm extension registers for plugin-defined
// metrics (source/extensions/common/wasm: "wasmcustom"). Envoy names the stats
// wasmcustom.<name>; its Prometheus formatter strips a registered custom namespace and, for
// such stats only, adds no "envoy_" prefix (PrometheusStatsFormatter::metricName).
const customNamespace = "wasmcustom."

// series is what Prometheus scrapes: metric name → label names (and the values seen).
type series map[string]map[string][]string

// TestDashboardQueriesExist drives the compiled plugin with envoy.yaml's configuration
// through requests that produce each of its metrics, turns the names into Prometheus series
// as Envoy does with that bootstrap's stats_tags, and checks every metric and label the
// Grafana dashboard's PromQL uses against them: a renamed metric or tag fails here.
func TestDashboardQueriesExist(t *testing.T) {
	b, names := envoyYAMLMetrics(t)
	var tags []statsTag
	for _, st := range b.GetStatsConfig().GetStatsTags() {
		tags = append(tags, statsTag{name: st.GetTagName(), re: regexp.MustCompile(st.GetRegex())})
	}
	checkDashboard(t, exposedSeries(names, tags))
}

// envoyYAMLMetrics loads envoy.yaml and returns it with the metric names the compiled plugin
// defines under its plugin configuration (emittedMetrics).
func envoyYAMLMetrics(t *testing.T) (*bootstrapv3.Bootstrap, []string) {
	t.Helper()
	b, err := envoy.Load(filepath.Join("..", "envoy", "envoy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	filters, err := envoy.WasmFilters(b)
	if err != nil || len(filters) != 1 {
		t.Fatalf("envoy.yaml: want one wasm filter: %v", err)
	}
	cfg, err := filters[0].PluginConfiguration()
	if err != nil {
		t.Fatal(err)
	}
	return b, emittedMetrics(t, cfg)
}

// exposedSeries is what Envoy's Prometheus endpoint shows for the plugin's metric names
// with the tag extractors applied.
func exposedSeries(names []string, tags []statsTag) series {
	got := series{}
	for _, n := range names {
		name, labels := extractTags(customNamespace+n, tags)
		prom := promName(name)
		if got[prom] == nil {
			got[prom] = map[string][]string{}
		}
		for k, v := range labels {
			got[prom][k] = append(got[prom][k], v)
		}
	}
	return got
}

// checkDashboard checks that got has each metric and label the plugin must produce, and every
// metric and label the Grafana dashboard's PromQL uses.
func checkDashboard(t *testing.T, got series) {
	t.Helper()
	// What the plugin must produce for the dashboard to show anything: each metric with its
	// labels (the stats_tags worked), for both authorities of envoy.yaml.
	for _, want := range []struct{ metric, label, value string }{
		{"waf_filter_tx_total", "", ""},
		{"waf_filter_tx_interruptions", "ruleid", "949110"},
		{"waf_filter_tx_interruptions", "phase", "request-headers"},
		{"waf_filter_tx_interruptions", "authority", "default"},
		{"waf_filter_tx_interruptions", "authority", "static.example.com"},
		{"waf_filter_tx_matched_rules", "category", "sqli"},
		{"waf_filter_tx_matched_rules", "authority", "default"},
		{"waf_filter_vm_memory_bytes", "", ""},
	} {
		ls, ok := got[want.metric]
		if !ok {
			t.Errorf("no series %s; have %v", want.metric, got)
			continue
		}
		if want.label != "" && !slices.Contains(ls[want.label], want.value) {
			t.Errorf("%s: no %s=%q; have %v", want.metric, want.label, want.value, ls)
		}
	}

	data, err := os.ReadFile(filepath.Join("grafana", "dashboards", "meshwaf.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("meshwaf.json: %v", err)
	}
	if len(dash.Panels) == 0 {
		t.Fatal("meshwaf.json: no panels")
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no query", p.Title)
		}
		for _, tg := range p.Targets {
			q, err := parseQuery(tg.Expr)
			if err != nil {
				t.Errorf("panel %q: %v", p.Title, err)
				continue
			}
			if len(q.metrics) == 0 {
				t.Errorf("panel %q: %q selects no metric", p.Title, tg.Expr)
			}
			for _, m := range q.metrics {
				ls, ok := got[m]
				if !ok {
					t.Errorf("panel %q: %q queries %s, which Envoy does not expose; series: %v", p.Title, tg.Expr, m, keys(got))
					continue
				}
				for _, l := range q.labels {
					if _, ok := ls[l]; !ok {
						t.Errorf("panel %q: %q uses label %q, which %s lacks (labels: %v)", p.Title, tg.Expr, l, m, keys(ls))
					}
				}
			}
		}
	}
}

// emittedMetrics sends requests that make the plugin define and increment each of its
// metrics and returns the names it defined.
func emittedMetrics(t *testing.T, cfg []byte) []string {
	t.Helper()
	ctx := context.Background()
	p, err := plugin.Module(t).NewPlugin(ctx, wasmhost.WithPluginConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	requests := []struct{ authority, method, path, ua string }{
		{"app.example.com", "GET", "/hello", "meshwaf-e2e/1.0"},
		{"app.example.com", "GET", "/?id=1%27%20OR%20%271%27%3D%271%27%20--", "meshwaf-e2e/1.0"},
		{"app.example.com", "GET", "/?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E", "meshwaf-e2e/1.0"},
		{"app.example.com", "GET", "/", "sqlmap/1.7.2#stable (https://sqlmap.org)"},
		{"static.example.com", "DELETE", "/index.html", "meshwaf-e2e/1.0"},
	}
	for _, r := range requests {
		s, err := p.NewStream(ctx, wasmhost.StreamInfo{SourceAddress: "10.0.0.1:40000", DestinationAddress: "10.0.0.2:8080"})
		if err != nil {
			t.Fatal(err)
		}
		step, err := s.RequestHeaders(wasmhost.Headers{
			{":method", r.method}, {":path", r.path}, {":authority", r.authority}, {":scheme", "http"},
			{"user-agent", r.ua}, {"accept", "text/html"},
		}, true)
		if err != nil {
			t.Fatal(err)
		}
		if step.Reply == nil {
			if _, err := s.ResponseHeaders(wasmhost.Headers{{":status", "200"}, {"content-type", "text/plain"}}, false); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ResponseBody([]byte("hello"), true); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for _, m := range p.Metrics() {
		names = append(names, strings.TrimPrefix(m.Name, customNamespace))
	}
	t.Logf("plugin metrics: %v", names)
	return names
}

type statsTag struct {
	name string
	re   *regexp.Regexp
}

// extractTags does what Envoy's TagExtractorImplBase::extractTag does for each stats_tags
// entry, all on the original name: the first capture group is the text removed from the
// name, the second the tag's value; the removed spans are cut out at the end. Envoy's default
// extractors all start with another stem (cluster., http., listener., …) and cannot match.
func extractTags(name string, tags []statsTag) (string, map[string]string) {
	labels := map[string]string{}
	remove := make([]bool, len(name))
	for _, tg := range tags {
		m := tg.re.FindStringSubmatchIndex(name)
		if m == nil || len(m) < 4 || m[2] < 0 {
			continue
		}
		v := name[m[2]:m[3]]
		if len(m) >= 6 && m[4] >= 0 {
			v = name[m[4]:m[5]]
		}
		labels[tg.name] = v
		for i := m[2]; i < m[3]; i++ {
			remove[i] = true
		}
	}
	var b strings.Builder
	for i := range len(name) {
		if !remove[i] {
			b.WriteByte(name[i])
		}
	}
	return b.String(), labels
}

var promInvalid = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// promName is PrometheusStatsFormatter::metricName: a stat in a registered custom namespace
// (wasmcustom) loses it and keeps its name, others get "envoy_"; then every character outside
// [a-zA-Z0-9_] becomes "_".
func promName(tagExtracted string) string {
	if rest, ok := strings.CutPrefix(tagExtracted, customNamespace); ok {
		return promInvalid.ReplaceAllString(rest, "_")
	}
	return "envoy_" + promInvalid.ReplaceAllString(tagExtracted, "_")
}

// query is what a PromQL expression needs of the series: the metrics it selects and the
// labels it matches or groups by.
type query struct {
	metrics, labels []string
}

var (
	promIdent   = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promNumber  = regexp.MustCompile(`^[0-9.]+(?:[eE][+-]?[0-9]+)?(?:ms|[smhdwy])*`)
	promMatcher = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*,?`)
	// Words that are not metric names where an identifier may stand.
	promKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true,
		"group_left": true, "group_right": true, "bool": true, "and": true, "or": true,
		"unless": true, "offset": true, "inf": true, "nan": true}
)

// parseQuery reads the metric names and label names of a PromQL expression: identifiers not
// followed by "(" (functions, aggregations) and not keywords are metrics; the label names
// come from {…} matchers and by/without/on/ignoring (…) lists. Range selectors ([5m],
// [$__rate_interval]) and strings are skipped. Enough for dashboard queries, not all PromQL.
func parseQuery(expr string) (query, error) {
	var q query
	s := expr
	for len(s) > 0 {
		switch c := s[0]; {
		case c == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return q, errorf(expr, "unclosed [")
			}
			s = s[end+1:]
		case c == '"':
			end := strings.IndexByte(s[1:], '"')
			if end < 0 {
				return q, errorf(expr, "unclosed string")
			}
			s = s[end+2:]
		case c == '{':
			s = s[1:]
			for {
				s = strings.TrimLeft(s, " ")
				if strings.HasPrefix(s, "}") {
					s = s[1:]
					break
				}
				m := promMatcher.FindStringSubmatch(s)
				if m == nil {
					return q, errorf(expr, "bad label matcher at "+s)
				}
				q.labels = append(q.labels, m[1])
				s = s[len(m[0]):]
			}
		case c >= '0' && c <= '9' || c == '.':
			s = s[len(promNumber.FindString(s)):]
		case promIdent.MatchString(s):
			id := promIdent.FindString(s)
			s = s[len(id):]
			rest := strings.TrimLeft(s, " ")
			switch {
			case id == "by" || id == "without" || id == "on" || id == "ignoring":
				if !strings.HasPrefix(rest, "(") {
					return q, errorf(expr, id+" without a label list")
				}
				end := strings.IndexByte(rest, ')')
				if end < 0 {
					return q, errorf(expr, "unclosed "+id+" (")
				}
				for _, l := range strings.Split(rest[1:end], ",") {
					if l = strings.TrimSpace(l); l != "" {
						q.labels = append(q.labels, l)
					}
				}
				s = rest[end+1:]
			case strings.HasPrefix(rest, "("), promKeywords[strings.ToLower(id)],
				strings.HasPrefix(rest, "by ") || strings.HasPrefix(rest, "by(") ||
					strings.HasPrefix(rest, "without ") || strings.HasPrefix(rest, "without("):
				// a function, an aggregation (its grouping may come first), a keyword
			default:
				q.metrics = append(q.metrics, id)
			}
		case c == '$':
			return q, errorf(expr, "a Grafana variable outside a range selector: the test cannot resolve it")
		default:
			s = s[1:]
		}
	}
	return q, nil
}

type queryError struct{ expr, msg string }

func (e *queryError) Error() string { return "query " + e.expr + ": " + e.msg }

func errorf(expr, msg string) error { return &queryError{expr, msg} }

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestParseQuery(t *testing.T) {
	cases := []struct {
		name, expr      string
		metrics, labels []string
	}{
		{"rate_sum", `sum(rate(waf_filter_tx_total[$__rate_interval]))`, []string{"waf_filter_tx_total"}, nil},
		{"by_labels", `sum by (ruleid, phase) (rate(waf_filter_tx_interruptions[5m]))`, []string{"waf_filter_tx_interruptions"}, []string{"ruleid", "phase"}},
		{"matchers", `waf_filter_tx_matched_rules{category="sqli", authority!~"x.*"} / 2`, []string{"waf_filter_tx_matched_rules"}, []string{"category", "authority"}},
		{"topk_ratio", `topk(10, sum(a_b[1h])) / sum(c_d offset 5m)`, []string{"a_b", "c_d"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, err := parseQuery(c.expr)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(q.metrics, c.metrics) || !slices.Equal(q.labels, c.labels) {
				t.Errorf("got metrics %v labels %v, want %v %v", q.metrics, q.labels, c.metrics, c.labels)
			}
		})
	}
}

func TestExtractTags(t *testing.T) {
	tags := []statsTag{
		{"ruleid", regexp.MustCompile(`(ruleid=\.=(.*?);\.;)`)},
		{"authority", regexp.MustCompile(`(authority=\.=(.*?);\.;)`)},
	}
	name, labels := extractTags("wasmcustom.waf_filter.tx.ruleid=.=949110;.;authority=.=api.example.com-8080;.;interruptions", tags)
	if name != "wasmcustom.waf_filter.tx.interruptions" || labels["ruleid"] != "949110" || labels["authority"] != "api.example.com-8080" {
		t.Errorf("got %q %v", name, labels)
	}
	if got := promName(name); got != "waf_filter_tx_interruptions" {
		t.Errorf("promName = %q", got)
	}
	if got := promName("http.ingress_http.downstream_rq_total"); got != "envoy_http_ingress_http_downstream_rq_total" {
		t.Errorf("promName = %q", got)
	}
}
