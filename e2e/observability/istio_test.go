package observability

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// istioBootstrapTemplate is the file istio-agent renders into every proxy's bootstrap
// (sidecars, gateways and waypoints), in the istio.io/istio module this module requires.
const istioBootstrapTemplate = "tools/packaging/common/envoy_bootstrap.json"

// istioStatsTags reads the stats_tags of Istio's bootstrap template and renders its
// extraStatTags entry for each of extra, as istio-agent does. Istio's own extractors are
// included: they run on our names too, and one that matched would mangle them.
func istioStatsTags(t *testing.T, extra []string) []statsTag {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(istioModuleDir(t), istioBootstrapTemplate))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, `"stats_tags": [`)
	if start < 0 {
		t.Fatalf("%s: no stats_tags", istioBootstrapTemplate)
	}
	text = text[start:]
	text = text[:strings.Index(text, "\n    ]")]
	// Each entry is {"tag_name": …, "regex": …} in either order; the template's range over
	// extraStatTags is one such entry with "{{ $tag }}" in both.
	entry := regexp.MustCompile(`\{\s*"(tag_name|regex)":\s*("(?:[^"\\]|\\.)*"),\s*"(tag_name|regex)":\s*("(?:[^"\\]|\\.)*")\s*\}`)
	var tags []statsTag
	templated := 0
	for _, m := range entry.FindAllStringSubmatch(text, -1) {
		fields := map[string]string{}
		for _, kv := range [][2]string{{m[1], m[2]}, {m[3], m[4]}} {
			var v string
			if err := json.Unmarshal([]byte(kv[1]), &v); err != nil {
				t.Fatalf("%s: %s: %v", istioBootstrapTemplate, kv[1], err)
			}
			fields[kv[0]] = v
		}
		if strings.Contains(fields["regex"], "{{ $tag }}") {
			templated++
			for _, tag := range extra {
				tags = append(tags, statsTag{name: tag, re: regexp.MustCompile(strings.ReplaceAll(fields["regex"], "{{ $tag }}", tag))})
			}
			continue
		}
		re, err := regexp.Compile(fields["regex"])
		if err != nil {
			// Envoy's regex engine takes lookaheads Go's does not. Such an extractor must be
			// anchored to another stem, so it cannot touch a "wasmcustom." name.
			if !regexp.MustCompile(`^\^[a-z]`).MatchString(fields["regex"]) || strings.HasPrefix(fields["regex"], "^wasmcustom") {
				t.Fatalf("Istio's extractor %s (%s) is not anchored to another stem and Go cannot compile it: %v", fields["tag_name"], fields["regex"], err)
			}
			continue
		}
		tags = append(tags, statsTag{name: fields["tag_name"], re: re})
	}
	if templated != 1 || len(tags) < 10 {
		t.Fatalf("%s: read %d extractors and %d extraStatTags entries; the template's layout changed", istioBootstrapTemplate, len(tags), templated)
	}
	return tags
}

// istioRequiredStatsPrefixes reads the stats-matcher prefixes istio-agent adds to every
// proxy's bootstrap whatever the configuration (pkg/bootstrap/config.go).
func istioRequiredStatsPrefixes(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(istioModuleDir(t), "pkg", "bootstrap", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`requiredEnvoyStatsMatcherInclusionPrefixes\s*=\s*"([^"]*)"`).FindSubmatch(data)
	if m == nil {
		t.Fatal("istio.io/istio pkg/bootstrap/config.go: no requiredEnvoyStatsMatcherInclusionPrefixes; its layout changed")
	}
	return strings.Split(string(m[1]), ",")
}

// istioModuleDir is the istio.io/istio module this module requires, in the module cache.
func istioModuleDir(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/istio").Output()
	if err != nil {
		t.Fatalf("locating the istio.io/istio module: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// meshExtraStatTags reads proxyStatsMatcher and extraStatTags from the mesh configuration
// users install (e2e/istio/meshconfig.yaml, an IstioOperator).
func meshExtraStatTags(t *testing.T) (prefixes, tags []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "istio", "meshconfig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var op struct {
		Spec struct {
			MeshConfig struct {
				DefaultConfig struct {
					ProxyStatsMatcher struct {
						InclusionPrefixes []string `json:"inclusionPrefixes"`
					} `json:"proxyStatsMatcher"`
					ExtraStatTags []string `json:"extraStatTags"`
				} `json:"defaultConfig"`
			} `json:"meshConfig"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &op); err != nil {
		t.Fatal(err)
	}
	dc := op.Spec.MeshConfig.DefaultConfig
	return dc.ProxyStatsMatcher.InclusionPrefixes, dc.ExtraStatTags
}

// TestDashboardQueriesExistUnderIstio: the same check as TestDashboardQueriesExist, with the
// tag extractors an Istio proxy has when its mesh is configured with meshconfig.yaml: Istio's
// own, plus the regexes it generates from extraStatTags. Every name must also pass
// istio-agent's required stats-matcher prefixes, or Istio drops it.
func TestDashboardQueriesExistUnderIstio(t *testing.T) {
	_, extra := meshExtraStatTags(t)
	if len(extra) == 0 {
		t.Fatal("meshconfig.yaml: no extraStatTags")
	}
	_, names := envoyYAMLMetrics(t)
	// Istio keeps a stat if its name starts with one of istio-agent's required prefixes or
	// the configured ones; meshwaf's must be kept by the required ones alone, so the examples'
	// inclusionPrefixes are optional, as the docs say.
	required := istioRequiredStatsPrefixes(t)
	for _, n := range names {
		kept := false
		for _, p := range required {
			kept = kept || strings.HasPrefix(customNamespace+n, p)
		}
		if !kept {
			t.Errorf("%s%s is not under istio-agent's required stats prefixes %q: without inclusionPrefixes Istio drops it", customNamespace, n, required)
		}
	}
	checkDashboard(t, exposedSeries(names, istioStatsTags(t, extra)))
}
