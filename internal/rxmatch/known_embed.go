//go:build meshwaf_crs_analyses

package rxmatch

import _ "embed"

//go:embed crs_analyses.gen.txt
var crsAnalyses string
