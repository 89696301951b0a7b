// Package faultinject makes the WAF fail on purpose, for tests of failure_mode: under the
// meshwaf_faults build tag it registers the Coraza operator @meshwafPanic, which panics when
// the inspected value contains its argument:
//
//	SecRule REQUEST_HEADERS:X-Panic "@meshwafPanic now" "id:9001,phase:1,pass,nolog"
//
// Only a test variant of the module imports it (main's faults.go, built with the tag;
// wasmtest.FaultPlugin): the production module has no way to panic on request.
package faultinject
