package wasmplugin

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
)

// statsTagsJSON is the list of Envoy stats_tags (bootstrap stats_config.stats_tags) that turn
// meshwaf's metric names into tagged stats. It is shipped as a file so deployments can paste
// it; StatsTags serves the same list to Go code. Each regex is the one Istio generates for a
// name in extraStatTags, so on Istio listing the tag names there does the same.
//
//go:embed statstags.json
var statsTagsJSON []byte

// StatsTag is one Envoy TagSpecifier: the first capture group is removed from the stat name,
// the second is the tag's value (Envoy's TagExtractorImpl).
type StatsTag struct {
	TagName string `json:"tag_name"`
	Regex   string `json:"regex"`
}

// tagRegex is the regex that extracts tag key from a metric name: Istio's, for extraStatTags.
func tagRegex(key string) string {
	return "(" + regexp.QuoteMeta(key) + `=\.=(.*?);\.;)`
}

// StatsTags returns the tag specifiers for meshwaf's own labels and for the given
// metric_labels keys, whose regexes depend on the configuration.
func StatsTags(metricLabels map[string]string) []StatsTag {
	var tags []StatsTag
	if err := json.Unmarshal(statsTagsJSON, &tags); err != nil {
		panic(fmt.Sprintf("statstags.json: %v", err)) // an embedded constant; tests parse it
	}
	for _, k := range slices.Sorted(maps.Keys(metricLabels)) {
		key := sanitizeTagKey(k)
		tags = append(tags, StatsTag{TagName: key, Regex: tagRegex(key)})
	}
	return tags
}
