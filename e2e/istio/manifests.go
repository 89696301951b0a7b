// Package istio holds the Istio manifests users deploy meshwaf with (WasmPlugin and
// TrafficExtension for sidecars and ambient waypoints, the waypoint Gateway, the stats
// settings) and decodes them with Istio's and Gateway API's own types, strictly.
package istio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"

	"sigs.k8s.io/yaml"
)

// Files are the manifests shipped in this directory.
var Files = []string{
	"wasmplugin-sidecar.yaml", "wasmplugin-waypoint.yaml",
	"trafficextension-sidecar.yaml", "trafficextension-waypoint.yaml",
	"waypoint.yaml", "stats.yaml",
}

// Object is one Kubernetes object of a manifest, as JSON, with what identifies it.
type Object struct {
	File       string
	Index      int // position in the file, from 0
	APIVersion string
	Kind       string
	Name       string
	JSON       []byte
}

func (o Object) String() string { return fmt.Sprintf("%s#%d %s/%s", o.File, o.Index, o.Kind, o.Name) }

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// Load reads every object of a multi-document YAML file.
func Load(path string) ([]Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse splits data into its YAML documents and converts each to JSON; documents holding
// only comments are skipped.
func Parse(file string, data []byte) ([]Object, error) {
	var out []Object
	for _, doc := range docSep.Split(string(data), -1) {
		js, err := yaml.YAMLToJSON([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, len(out), err)
		}
		if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(js, &head); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, len(out), err)
		}
		out = append(out, Object{File: file, Index: len(out), APIVersion: head.APIVersion, Kind: head.Kind, Name: head.Metadata.Name, JSON: js})
	}
	return out, nil
}
