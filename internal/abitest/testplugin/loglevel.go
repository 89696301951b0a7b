//go:build abitest_loglevel

package main

import (
	"fmt"

	"github.com/meshwaf/meshwaf/internal/abi"
)

// hostLogLevel reports proxy_get_log_level. It is behind a build tag because the SDK's
// emulator, the second host the shared test plugin runs in, does not provide that import
// (Envoy does), and a module importing it would not load there.
func hostLogLevel() string {
	level, err := abi.HostLogLevel()
	return fmt.Sprintf("host log level %s %v", level, err)
}
