package e2e

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/meshwaf/meshwaf/e2e/harness"
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
	// The Envoy image's entrypoint runs Envoy as the envoy user (uid 101) unless ENVOY_UID is
	// "0"; that user cannot create --log-path in the ../build/envoy bind mount (owned by the
	// host user, or by root when Docker creates it), and Envoy refuses to start when it cannot
	// open its log file ("Failed to open log-file"). The harness and the FTW run read that log.
	ev := c.Services["envoy"]
	if got := ev.Env["ENVOY_UID"]; got != "0" {
		t.Errorf("envoy: ENVOY_UID %q, want \"0\": the image's envoy user cannot write --log-path into the bind mount", got)
	}
	logPath := ""
	for i, a := range ev.Command {
		if a == "--log-path" && i+1 < len(ev.Command) {
			logPath = ev.Command[i+1]
		}
	}
	mounted := false
	for _, v := range ev.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.Contains(parts[0], "build/") && logPath != "" && path.Dir(logPath) == parts[1] {
			mounted = true
		}
	}
	if !mounted {
		t.Errorf("envoy: --log-path %q is not in a directory mounted from build/ (volumes %q)", logPath, ev.Volumes)
	}
	be := c.Services["backend"]
	if len(be.Command) < 3 || be.Command[2] != "./cmd/meshwaf-backend" {
		t.Errorf("backend command %q, want go run ./cmd/meshwaf-backend", be.Command)
	} else if _, err := os.Stat(be.Command[2]); err != nil {
		t.Error(err)
	}
}

// The compose file's default Envoy image is the oldest Envoy meshwaf runs in, the harness's
// MinEnvoy: raising one without the other fails here. e2e/README.md names the same image.
func TestComposeEnvoyImageIsMinEnvoy(t *testing.T) {
	data, err := os.ReadFile("docker-compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image string `json:"image"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`^\$\{ENVOY_IMAGE:-([^}]+)\}$`).FindStringSubmatch(c.Services["envoy"].Image)
	if m == nil {
		t.Fatalf("envoy image %q, want ${ENVOY_IMAGE:-<default>}", c.Services["envoy"].Image)
	}
	want := fmt.Sprintf("envoyproxy/envoy:v%d.%d-latest", harness.MinEnvoy.Major, harness.MinEnvoy.Minor)
	if m[1] != want {
		t.Errorf("default Envoy image %q, want %q (harness.MinEnvoy %v)", m[1], want, harness.MinEnvoy)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "`"+want+"`") {
		t.Errorf("e2e/README.md does not name the default image `%s`", want)
	}
}
