package wasmplugin

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza/v3/types"

	"github.com/meshwaf/meshwaf/internal/abi"
)

// Metric names carry their labels in the encoding of Istio's own stats (and of the
// proxy-wasm C++ SDK's tagged metrics): "key=.=value;.;" per label, between the stem's
// namespace and its last segment, for example
//
//	waf_filter.tx.ruleid=.=942100;.;phase=.=request-body;.;authority=.=api.example.com-8080;.;interruptions
//
// Tag extraction with the regex "(key=\.=(.*?);\.;)" cuts each pair out and keeps the value,
// leaving the stem "waf_filter.tx.interruptions". That regex is exactly what Istio generates
// for each name in a proxy's extraStatTags, so on Istio the labels work in sidecars, gateways
// and ambient waypoints alike with mesh configuration only; statstags.json ships the same
// regexes as stats_tags for a plain Envoy bootstrap. Keeping the namespace first keeps every
// name under the prefix "wasmcustom.waf_filter", so a stats matcher can select them; Istio's
// proxies keep them anyway (istio-agent always includes the prefix "wasm").
//
// The authority label is the per_authority_directives entry that routed the request (or
// "default"), not the :authority the client sent: Envoy keeps every stat name for the life of
// the process, so a label a client could vary would let it grow Envoy's memory without bound.
//
// Values are sanitised to [a-z0-9.-], so no value holds a separator, and a ':' (a port, an
// IPv6 address) becomes '-'.
const (
	metricTxTotal       = "waf_filter.tx.total"
	metricInterruptions = "waf_filter.tx.interruptions"
	metricMatchedRules  = "waf_filter.tx.matched_rules"
	metricFailures      = "waf_filter.tx.failures"
)

// The separators of Istio's tag encoding: after a tag's name, and after its value.
const (
	tagValueSep = "=.="
	tagFieldSep = ";.;"
)

// Tags meshwaf sets itself; metric_labels may not reuse them.
var reservedTags = []string{"ruleid", "phase", "authority", "category", "mode"}

// label is one tag of a metric name.
type label struct{ key, value string }

// metricName builds the name of stem with the labels, each sanitised, before stem's last
// segment.
func metricName(stem string, labels ...label) string {
	cut := strings.LastIndexByte(stem, '.') + 1
	var b strings.Builder
	b.WriteString(stem[:cut])
	for _, l := range labels {
		b.WriteString(sanitizeTagKey(l.key))
		b.WriteString(tagValueSep)
		b.WriteString(sanitizeTagValue(l.value))
		b.WriteString(tagFieldSep)
	}
	b.WriteString(stem[cut:])
	return b.String()
}

// sanitizeTagKey keeps lower-case letters and digits: a key is matched literally by its regex.
func sanitizeTagKey(k string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(k) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sanitizeTagValue maps a value into [a-z0-9.-]; an empty value becomes "none" so every tag
// is present in every name of a family.
func sanitizeTagValue(v string) string {
	if v == "" {
		return "none"
	}
	b := []byte(strings.ToLower(v))
	for i, c := range b {
		if !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

// phaseName is the phase label: Coraza's phase numbers named for what they inspect.
func phaseName(p types.RulePhase) string {
	switch p {
	case types.PhaseRequestHeaders:
		return "request-headers"
	case types.PhaseRequestBody:
		return "request-body"
	case types.PhaseResponseHeaders:
		return "response-headers"
	case types.PhaseResponseBody:
		return "response-body"
	case types.PhaseLogging:
		return "logging"
	}
	return "unknown"
}

// attackCategory is the CRS category of a rule from its "attack-*" tag, or "".
func attackCategory(tags []string) string {
	for _, t := range tags {
		if c, ok := strings.CutPrefix(t, "attack-"); ok && c != "" {
			return c
		}
	}
	return ""
}

// metrics defines each counter once per plugin and caches it by name: defining is a host call,
// and the set of names is bounded by rules × phases × routing entries of the configuration.
type metrics struct {
	labels  []label
	define  func(name string) (counter, error)
	byName  map[string]counter
	onError func(error)
}

type counter interface{ Increment(int64) error }

func newMetrics(userLabels map[string]string, define func(string) (counter, error), onError func(error)) *metrics {
	m := &metrics{define: define, byName: map[string]counter{}, onError: onError}
	for _, k := range slices.Sorted(maps.Keys(userLabels)) {
		m.labels = append(m.labels, label{k, userLabels[k]})
	}
	return m
}

func abiCounter(name string) (counter, error) { return abi.DefineMetric(abi.MetricCounter, name) }

func (m *metrics) inc(stem string, labels ...label) {
	name := metricName(stem, append(labels, m.labels...)...)
	c, ok := m.byName[name]
	if !ok {
		var err error
		if c, err = m.define(name); err != nil {
			m.onError(err)
			return
		}
		m.byName[name] = c
	}
	if err := c.Increment(1); err != nil {
		m.onError(err)
	}
}

func (m *metrics) transaction() { m.inc(metricTxTotal) }

// interruption counts an interruption; route is the routing entry (router.route).
func (m *metrics) interruption(ruleID int, phase types.RulePhase, route string) {
	m.inc(metricInterruptions,
		label{"ruleid", strconv.Itoa(ruleID)}, label{"phase", phaseName(phase)}, label{"authority", route})
}

// matchedRule counts a detection; route is the routing entry (router.route).
func (m *metrics) matchedRule(category, route string) {
	m.inc(metricMatchedRules, label{"category", category}, label{"authority", route})
}

// failure counts a stream the WAF failed on (a panic or an inspection error) by failure_mode,
// the phase it was in ("none" before the transaction existed) and routing entry.
func (m *metrics) failure(mode FailureMode, phase types.RulePhase, route string) {
	m.inc(metricFailures, label{"mode", string(mode)}, label{"phase", failurePhase(phase)}, label{"authority", route})
}
