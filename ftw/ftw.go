// Package ftw holds meshwaf's FTW setup: the configuration and platform overrides (with the
// reason for every ignored test or changed expectation) used when the CRS regression suite runs against meshwaf. The runner itself is in the
// subpackages:
//
//   - ftw/test: the YAML test schema and loading (embedded CRS suite or a directory)
//   - ftw/config: .ftw.yaml and platform overrides files
//   - ftw/client: raw-bytes HTTP requests and tolerant response reading
//   - ftw/logmarker: the log-marker protocol and rule-id extraction
//   - ftw/backend: the albedo-compatible upstream
//   - ftw/runner: Run, judging and reporting
package ftw

import (
	_ "embed"

	"github.com/meshwaf/meshwaf/ftw/config"
)

var (
	//go:embed meshwaf.ftw.yaml
	meshwafConfig []byte
	//go:embed meshwaf.overrides.yaml
	meshwafOverrides []byte
)

// Config returns meshwaf's FTW configuration (meshwaf.ftw.yaml), parsed and validated: the
// tests ignored or forced, each with its reason.
func Config() (config.Config, error) { return config.Parse("ftw/meshwaf.ftw.yaml", meshwafConfig) }

// Overrides returns meshwaf's platform overrides (meshwaf.overrides.yaml), parsed and
// validated: the tests whose expected output differs on meshwaf, each with its reason.
func Overrides() (*config.Overrides, error) {
	return config.ParseOverrides("ftw/meshwaf.overrides.yaml", meshwafOverrides)
}
