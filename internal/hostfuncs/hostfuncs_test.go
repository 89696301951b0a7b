package hostfuncs

import (
	"slices"
	"testing"
)

// The sets are data copied by hand from cpp-host; these checks catch a slip in that copy (a
// lost or duplicated name, a function put in the wrong generation) that no behaviour test
// would notice until a real Envoy refused the module.

func TestSetSizes(t *testing.T) {
	for _, c := range []struct {
		name string
		set  []string
		want int
	}{
		{"WASI427", WASI427(), 18},
		{"WASI533", WASI533(), 45},
		{"ProxyWasm", ProxyWasm(), 43},
	} {
		if len(c.set) != c.want {
			t.Errorf("%s has %d functions, cpp-host's has %d", c.name, len(c.set), c.want)
		}
		seen := map[string]bool{}
		for _, f := range c.set {
			if seen[f] {
				t.Errorf("%s lists %s twice", c.name, f)
			}
			seen[f] = true
		}
	}
}

func TestWASI533ExtendsWASI427(t *testing.T) {
	newer := WASI533()
	for _, f := range WASI427() {
		if !slices.Contains(newer, f) {
			t.Errorf("%s is in #427's set but not in #533's", f)
		}
	}
}

// TestGoRuntimeNeeds pins the facts the build's post-link step rests on: the functions whose
// absence kept every Go module out of Envoy before #427 are in #427's set, and the 13 a plain
// Coraza build imports beyond it are only in #533's.
func TestGoRuntimeNeeds(t *testing.T) {
	older, newer := WASI427(), WASI533()
	for _, f := range []string{"poll_oneoff", "sched_yield", "fd_fdstat_set_flags", "random_get", "clock_time_get"} {
		if !slices.Contains(older, f) {
			t.Errorf("%s missing from #427's set", f)
		}
	}
	for _, f := range []string{
		"fd_pread", "fd_pwrite", "fd_sync", "fd_filestat_set_size", "sock_accept", "sock_shutdown",
		"fd_filestat_get", "path_filestat_get", "path_readlink", "fd_readdir",
		"path_create_directory", "path_remove_directory", "path_unlink_file",
	} {
		if slices.Contains(older, f) {
			t.Errorf("%s is listed in #427's set; cpp-host added it only in #533", f)
		}
		if !slices.Contains(newer, f) {
			t.Errorf("%s missing from #533's set", f)
		}
	}
}

func TestProxyWasmHasTheABICalls(t *testing.T) {
	all := ProxyWasm()
	for _, f := range []string{
		"proxy_log", "proxy_get_header_map_pairs", "proxy_send_local_response",
		"proxy_get_buffer_bytes", "proxy_continue_stream", "proxy_close_stream",
		"proxy_define_metric", "proxy_get_log_level", "proxy_get_header_map_size",
	} {
		if !slices.Contains(all, f) {
			t.Errorf("%s missing from the Proxy-Wasm host functions", f)
		}
	}
	for _, f := range all {
		if slices.Contains(WASI533(), f) {
			t.Errorf("%s is in both the WASI and the Proxy-Wasm lists", f)
		}
	}
}

func TestCallersGetCopies(t *testing.T) {
	s := WASI427()
	s[0] = "changed"
	if WASI427()[0] == "changed" || WASI533()[0] == "changed" {
		t.Fatal("a caller's change to WASI427() reached the package's set")
	}
	p := ProxyWasm()
	p[0] = "changed"
	if ProxyWasm()[0] == "changed" {
		t.Fatal("a caller's change to ProxyWasm() reached the package's set")
	}
}
