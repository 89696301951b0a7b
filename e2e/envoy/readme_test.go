package envoy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	wasmfilterv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/wasm/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/meshwaf/meshwaf/e2e/internal/plugin"
)

// readmePath is the repository's README, seen from this package's directory.
const readmePath = "../../README.md"

// The README's inline Envoy filter is what users copy: it must parse with Envoy's API types
// (unknown fields rejected), pass ValidateAll, end with the router, start in the plugin without
// warnings, and be the filter of envoy.yaml, which the e2e harness runs through Envoy.
func TestREADMEEnvoyFilter(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	block, readmeWasm := documentedWasmFilter(t, "README.md", readme)

	t.Run("same_filter_as_envoy.yaml", func(t *testing.T) {
		b, err := Load("envoy.yaml")
		if err != nil {
			t.Fatal(err)
		}
		fs, err := WasmFilters(b)
		if err != nil || len(fs) != 1 {
			t.Fatalf("envoy.yaml: wasm filters: %v, %d", err, len(fs))
		}
		if err := sameWasmFilter(readmeWasm, fs[0]); err != nil {
			t.Errorf("the README's filter and envoy.yaml's differ: %v", err)
		}
	})

	t.Run("link_to_the_configuration_reference_resolves", func(t *testing.T) {
		// The README's sentence before the block links to the filter's reference section.
		const doc = "docs/configuration.md"
		link := regexp.MustCompile(`\(` + regexp.QuoteMeta(doc) + `#([a-z0-9_-]+)\)`)
		before := readme[:bytes.Index(readme, block)]
		m := link.FindAllSubmatch(before[max(0, len(before)-600):], -1)
		if len(m) == 0 {
			t.Fatalf("no link to %s#… just before the block", doc)
		}
		anchor := string(m[len(m)-1][1])
		data, err := os.ReadFile("../../" + doc)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(headingAnchors(data), anchor) {
			t.Errorf("%s has no heading with the anchor #%s", doc, anchor)
		}
	})
}

// The README checks must be able to fail: a misspelt key, an unknown @type, a value
// ValidateAll refuses, a filter that is not envoy.yaml's, a README without the block.
func TestREADMEEnvoyFilterMistakesAreCaught(t *testing.T) {
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	block, err := envoyFilterBlock(readme)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(t *testing.T, old, new string) []byte {
		t.Helper()
		if !bytes.Contains(block, []byte(old)) {
			t.Fatalf("the README's block no longer contains %q", old)
		}
		return bytes.Replace(block, []byte(old), []byte(new), 1)
	}
	t.Run("typo_in_key_rejected", func(t *testing.T) {
		if _, err := parseHTTPFilters(edit(t, "root_id: meshwaf", "rootid_: meshwaf")); err == nil {
			t.Error("a misspelt key parsed")
		}
	})
	t.Run("unknown_top_level_key_rejected", func(t *testing.T) {
		if _, err := parseHTTPFilters(edit(t, "http_filters:", "http_filter:")); err == nil {
			t.Error("http_filter: parsed")
		}
	})
	t.Run("unknown_type_rejected", func(t *testing.T) {
		if _, err := parseHTTPFilters(edit(t, "filters.http.wasm.v3.Wasm", "filters.http.wasm.v3.Wasmm")); err == nil {
			t.Error("an unknown @type parsed")
		}
	})
	t.Run("invalid_value_rejected", func(t *testing.T) {
		fs, err := parseHTTPFilters(edit(t, "filename: /etc/envoy/meshwaf.wasm", `filename: ""`))
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(fs[0]); err == nil || !strings.Contains(err.Error(), "Filename") {
			t.Errorf("an empty module filename inside the filter's Any passed: %v", err)
		}
	})
	t.Run("difference_from_envoy.yaml_detected", func(t *testing.T) {
		b, err := Load("envoy.yaml")
		if err != nil {
			t.Fatal(err)
		}
		ref, err := WasmFilters(b)
		if err != nil || len(ref) != 1 {
			t.Fatalf("envoy.yaml: wasm filters: %v, %d", err, len(ref))
		}
		for old, new := range map[string]string{
			"runtime: envoy.wasm.runtime.v8": "runtime: envoy.wasm.runtime.wamr",
			`"default_directives": "crs"`:    `"default_directives": "static"`,
		} {
			fs, err := parseHTTPFilters(edit(t, old, new))
			if err != nil {
				t.Fatal(err)
			}
			w, err := wasmFilter(fs[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := sameWasmFilter(w, ref[0]); err == nil {
				t.Errorf("%q → %q: still the same filter as envoy.yaml's", old, new)
			}
		}
	})
	t.Run("missing_block_detected", func(t *testing.T) {
		if _, err := envoyFilterBlock(bytes.ReplaceAll(readme, []byte("envoy.filters.http.wasm"), []byte("wasm"))); err == nil {
			t.Error("a README without the filter block passed")
		}
	})
}

// envoyFilterBlock returns the content of the one ```yaml block of the README that configures
// envoy.filters.http.wasm.
func envoyFilterBlock(readme []byte) ([]byte, error) {
	return envoyFilterBlockIn("README.md", readme)
}

// envoyFilterBlockIn is envoyFilterBlock for the Markdown file name.
func envoyFilterBlockIn(name string, readme []byte) ([]byte, error) {
	var found [][]byte
	for _, m := range regexp.MustCompile("(?ms)^```yaml\n(.*?)^```$").FindAllSubmatch(readme, -1) {
		if bytes.Contains(m[1], []byte("name: envoy.filters.http.wasm")) {
			found = append(found, m[1])
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("%s: %d ```yaml blocks configure envoy.filters.http.wasm, want 1", name, len(found))
	}
	return found[0], nil
}

// parseHTTPFilters reads a YAML `http_filters:` list, as it appears in an
// HttpConnectionManager, with Envoy's types: unknown fields and unknown @types are errors.
func parseHTTPFilters(data []byte) ([]*hcmv3.HttpFilter, error) {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	var top struct {
		HTTPFilters []json.RawMessage `json:"http_filters"`
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&top); err != nil {
		return nil, fmt.Errorf("want only http_filters: %w", err)
	}
	if len(top.HTTPFilters) == 0 {
		return nil, errors.New("no http_filters")
	}
	out := make([]*hcmv3.HttpFilter, len(top.HTTPFilters))
	for i, raw := range top.HTTPFilters {
		out[i] = &hcmv3.HttpFilter{}
		if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(raw, out[i]); err != nil {
			return nil, fmt.Errorf("http_filters[%d]: %w", i, err)
		}
	}
	return out, nil
}

// wasmFilter unpacks an envoy.filters.http.wasm filter's typed config.
func wasmFilter(f *hcmv3.HttpFilter) (WasmFilter, error) {
	var w wasmfilterv3.Wasm
	if f.GetName() != "envoy.filters.http.wasm" {
		return WasmFilter{}, fmt.Errorf("filter %q, want envoy.filters.http.wasm", f.GetName())
	}
	if err := f.GetTypedConfig().UnmarshalTo(&w); err != nil {
		return WasmFilter{}, fmt.Errorf("%s: typed_config: %w", f.GetName(), err)
	}
	return WasmFilter{Path: "README.md http_filters[0]", Filter: &w}, nil
}

// sameWasmFilter reports how a and b differ: their plugin configurations as JSON values (the
// README writes the JSON more compactly), everything else field by field.
func sameWasmFilter(a, b WasmFilter) error {
	var cfgs [2]any
	for i, w := range []WasmFilter{a, b} {
		data, err := w.PluginConfiguration()
		if err != nil {
			return fmt.Errorf("%s: %w", w.Path, err)
		}
		if err := json.Unmarshal(data, &cfgs[i]); err != nil {
			return fmt.Errorf("%s: plugin configuration: %w", w.Path, err)
		}
	}
	if !reflect.DeepEqual(cfgs[0], cfgs[1]) {
		return fmt.Errorf("plugin configurations differ:\n%v\n%v", cfgs[0], cfgs[1])
	}
	x, y := proto.Clone(a.Filter).(*wasmfilterv3.Wasm), proto.Clone(b.Filter).(*wasmfilterv3.Wasm)
	x.GetConfig().Configuration, y.GetConfig().Configuration = nil, nil
	if !proto.Equal(x, y) {
		return fmt.Errorf("filters differ:\n%v\n%v", x, y)
	}
	return nil
}

// headingAnchors returns the anchors GitHub gives a Markdown file's headings: lower case,
// punctuation other than - and _ dropped, spaces as hyphens.
func headingAnchors(md []byte) []string {
	var out []string
	for line := range strings.SplitSeq(string(md), "\n") {
		title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " ")
		if !ok || !strings.HasPrefix(line, "#") {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(title)) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('0' <= r && r <= '9'):
				b.WriteRune(r)
			}
		}
		out = append(out, b.String())
	}
	return out
}

// The configuration reference (docs/configuration.md) shows the filter with every field
// explained: the same checks as the README's, except that it may differ from envoy.yaml (it
// shows one set, without the per-authority example), and it must fail closed like it.
func TestConfigurationReferenceEnvoyFilter(t *testing.T) {
	const doc = "../../docs/configuration.md"
	md, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	_, w := documentedWasmFilter(t, "docs/configuration.md", md)
	if got := w.Filter.GetConfig().GetFailurePolicy().String(); got != "FAIL_CLOSED" {
		t.Errorf("failure_policy %s, want FAIL_CLOSED (a failed VM must not pass requests uninspected)", got)
	}
}

// documentedWasmFilter finds the one envoy.filters.http.wasm block of the Markdown file name
// and checks what every documented filter must be: Envoy's API types accept it (unknown fields
// rejected), ValidateAll passes, the router comes last, and the plugin starts its
// configuration without a warning. It returns the block and the wasm filter.
func documentedWasmFilter(t *testing.T, name string, md []byte) ([]byte, WasmFilter) {
	t.Helper()
	block, err := envoyFilterBlockIn(name, md)
	if err != nil {
		t.Fatal(err)
	}
	filters, err := parseHTTPFilters(block)
	if err != nil {
		t.Fatalf("%s's http_filters, parsed with Envoy's API (unknown fields rejected): %v", name, err)
	}
	for i, f := range filters {
		if err := Validate(f); err != nil {
			t.Errorf("http_filters[%d] (%s): ValidateAll: %v", i, f.GetName(), err)
		}
	}
	if len(filters) != 2 || filters[1].GetName() != "envoy.filters.http.router" {
		t.Fatalf("want the wasm filter, then envoy.filters.http.router (the terminal filter), got %d filters", len(filters))
	}
	w, err := wasmFilter(filters[0])
	if err != nil {
		t.Fatal(err)
	}
	w.Path = name + " http_filters[0]"
	cfg, err := w.PluginConfiguration()
	if err != nil {
		t.Fatalf("%s: %v", w.Path, err)
	}
	plugin.CheckConfig(t, name, cfg)
	return block, w
}
