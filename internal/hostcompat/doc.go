// Package hostcompat holds the tests that the built plugin behaves the same under every
// generation of Envoy's Wasm host (wasmhost's host profiles); see docs/older-envoy.md. The
// rest of the suite runs under the default profile, CppHost427, or under
// MESHWAF_HOST_PROFILE's.
package hostcompat
