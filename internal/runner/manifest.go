package runner

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/goccy/go-yaml"
)

// PluginConfig is one plugin configuration found in a file: the file itself when it is a JSON
// object, or the pluginConfig of one Istio manifest in it.
type PluginConfig struct {
	// Name is empty for a JSON file, "Kind/metadata.name" for a manifest.
	Name string
	// JSON is the configuration handed to the plugin.
	JSON []byte
}

// Istio resources that carry a plugin configuration, and where.
const (
	kindWasmPlugin       = "WasmPlugin"       // spec.pluginConfig
	kindTrafficExtension = "TrafficExtension" // spec.wasm.pluginConfig
)

// manifest is the part of an Istio resource that holds a plugin configuration.
type manifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		PluginConfig any `yaml:"pluginConfig"`
		Wasm         struct {
			PluginConfig any `yaml:"pluginConfig"`
		} `yaml:"wasm"`
	} `yaml:"spec"`
}

// readPluginConfigs returns the plugin configurations of a file: a JSON object is one
// configuration, checked for syntax with line and column; anything else is read as YAML
// holding one or more Istio WasmPlugin or TrafficExtension manifests (other kinds, such as a
// Service in the same file, are skipped and listed in skipped), whose pluginConfig is
// converted to JSON.
func readPluginConfigs(data []byte) (configs []PluginConfig, skipped []string, err error) {
	if t := bytes.TrimSpace(data); len(t) == 0 || t[0] == '{' || t[0] == '[' || bytes.Equal(t, []byte("null")) {
		if err := checkJSONObject(data); err != nil {
			return nil, nil, err
		}
		return []PluginConfig{{JSON: data}}, nil, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for doc := 1; ; doc++ {
		var m manifest
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("neither a JSON object nor Istio manifests (YAML): document %d: %w", doc, err)
		}
		name := m.Kind + "/" + m.Metadata.Name
		var pc any
		switch m.Kind {
		case kindWasmPlugin:
			pc = m.Spec.PluginConfig
		case kindTrafficExtension:
			pc = m.Spec.Wasm.PluginConfig
		case "":
			if m.Metadata.Name == "" {
				continue // an empty document, such as one after a leading "---"
			}
			return nil, nil, fmt.Errorf("document %d: no kind: want a %s or %s manifest", doc, kindWasmPlugin, kindTrafficExtension)
		default:
			skipped = append(skipped, name)
			continue
		}
		where := "spec.pluginConfig"
		if m.Kind == kindTrafficExtension {
			where = "spec.wasm.pluginConfig"
		}
		if _, ok := pc.(map[string]any); !ok {
			if pc == nil {
				return nil, nil, fmt.Errorf("%s (document %d): no %s", name, doc, where)
			}
			return nil, nil, fmt.Errorf("%s (document %d): %s must be a mapping, found %T", name, doc, where, pc)
		}
		b, err := json.Marshal(pc)
		if err != nil {
			return nil, nil, fmt.Errorf("%s (document %d): %s: converting to JSON: %w", name, doc, where, err)
		}
		configs = append(configs, PluginConfig{Name: name, JSON: b})
	}
	if len(configs) == 0 {
		msg := "no " + kindWasmPlugin + " or " + kindTrafficExtension + " manifest"
		if len(skipped) > 0 {
			msg += " (found " + strings.Join(skipped, ", ") + ")"
		}
		return nil, nil, errors.New(msg)
	}
	return configs, skipped, nil
}
