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
// it; StatsTags serves the same list to Go code. Istio's extraStatTags cannot take its place:
// Istio builds each entry into a regex of its own `tag=.=value;.;` encoding, which never
// matches our `_key=value` pairs; on Istio these tags go into the proxy bootstrap too.
//
//go:embed statstags.json
var statsTagsJSON []byte

// StatsTag is one Envoy TagSpecifier: the first capture group is removed from the stat name,
// the second is the tag's value (Envoy's TagExtractorImpl).
type StatsTag struct {
	TagName string `json:"tag_name"`
	Regex   string `json:"regex"`
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
		tags = append(tags, StatsTag{
			TagName: key,
			Regex:   `^(?:wasmcustom\.)?waf_filter\.tx\..*?(_` + regexp.QuoteMeta(key) + `=([a-z0-9.-]+))`,
		})
	}
	return tags
}
