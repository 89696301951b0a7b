// Command meshwaf is the WAF as a Proxy-Wasm module. Build it with `go run mage.go build`
// (docs/build.md); by hand, as a wasip1 reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -tags no_fs_access,coraza.disabled_operators.validateSchema -o meshwaf.wasm .
//
// which loads the CRS more slowly: it parses every @rx expression at load, where the mage
// build reads their analyses from a generated file (tag meshwaf_crs_analyses).
package main

import (
	"github.com/meshwaf/meshwaf/internal/abi"
	"github.com/meshwaf/meshwaf/wasmplugin"
)

func main() {}

// A reactor runs init in _initialize, before the host's first callback.
func init() { abi.SetVMContext(wasmplugin.NewVM()) }
