//go:build meshwaf_faults

package main

// The test variant of the module (wasmtest.FaultPlugin) can be made to fail on purpose.
import _ "github.com/meshwaf/meshwaf/internal/faultinject"
