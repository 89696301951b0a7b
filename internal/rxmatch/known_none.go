//go:build !meshwaf_crs_analyses

package rxmatch

// crsAnalyses is empty in a build without the generated file: every expression is parsed.
const crsAnalyses = ""
