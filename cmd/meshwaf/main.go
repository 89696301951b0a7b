// Command meshwaf is the local runner: it serves the meshwaf Proxy-Wasm module
// (build/meshwaf.wasm) through the same ABI Envoy uses, in front of an upstream — by default a
// built-in echo server — so the exact artifact can be tried without Envoy.
//
//	go run mage.go run                         # build, then serve on 127.0.0.1:8080 (full CRS)
//	go run ./cmd/meshwaf --upstream http://localhost:3000 --log-file waf.log
//	go run ./cmd/meshwaf validate my-config.json
//
// Run it with -h for every flag and the exit status (0 success, 1 failure such as a refused
// configuration, 2 a usage mistake). The logic lives in internal/runner.
package main

import (
	"os"

	"github.com/meshwaf/meshwaf/internal/runner"
)

func main() { os.Exit(runner.Main(os.Args[1:], os.Stdout, os.Stderr)) }
