// Package ftw holds meshwaf's FTW setup: the configuration (with the reason for every ignored
// test) used when the CRS regression suite runs against meshwaf. The runner itself is in the
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

//go:embed meshwaf.ftw.yaml
var meshwafConfig []byte

// Config returns meshwaf's FTW configuration (meshwaf.ftw.yaml), parsed and validated.
func Config() (config.Config, error) { return config.Parse("ftw/meshwaf.ftw.yaml", meshwafConfig) }
