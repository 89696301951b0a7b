package wasmhost

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// profileTestModule is a hand-assembled Proxy-Wasm-shaped module: it imports each
// "module.name" in imports with poll_oneoff's type (i32 i32 i32 i32) -> i32, exports the ABI
// marker, a one-page memory, "call0", which calls the first import as poll_oneoff(0, 0, 1, 16)
// after storing 7 at 16, and "nevents", which loads the i32 at 16.
func profileTestModule(imports ...string) []byte {
	var m []byte
	m = append(m, 0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00)
	sec := func(id byte, body ...byte) {
		m = append(m, id, byte(len(body))) // every section here is < 128 bytes
		m = append(m, body...)
	}
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	body := func(code ...byte) []byte { return append([]byte{byte(len(code))}, code...) }

	sec(1, 0x03, 0x60, 0x04, 0x7f, 0x7f, 0x7f, 0x7f, 0x01, 0x7f, 0x60, 0x00, 0x00, 0x60, 0x00, 0x01, 0x7f)
	imp := []byte{byte(len(imports))}
	for _, i := range imports {
		mod, fn, _ := strings.Cut(i, ".")
		imp = cat(imp, name(mod), name(fn), []byte{0x00, 0x00})
	}
	sec(2, imp...)
	n := byte(len(imports))
	sec(3, 0x03, 0x01, 0x02, 0x02) // marker: () -> (); call0, nevents: () -> i32
	sec(5, 0x01, 0x00, 0x01)       // memory: min 1 page
	sec(7, cat([]byte{0x04}, name(abiMarker), []byte{0x00, n}, name("call0"), []byte{0x00, n + 1},
		name("nevents"), []byte{0x00, n + 2}, name("memory"), []byte{0x02, 0x00})...)
	sec(10, cat([]byte{0x03},
		body(0x00, 0x0b),
		body(0x00, 0x41, 16, 0x41, 7, 0x36, 0x02, 0x00, // mem[16] = 7
			0x41, 0, 0x41, 0, 0x41, 1, 0x41, 16, 0x10, 0x00, 0x0b), // call 0(0, 0, 1, 16)
		body(0x00, 0x41, 16, 0x28, 0x02, 0x00, 0x0b))...) // i32.load 16
	return m
}

func TestHostProfileRefusesMissingImports(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		profile HostProfile
		imports []string
		missing string // "" if the module loads
	}{
		{"cpphost427_loads_its_own_set", CppHost427, []string{"wasi_snapshot_preview1.poll_oneoff", "wasi_snapshot_preview1.fd_write", "env.proxy_log"}, ""},
		{"cpphost427_refuses_fd_pread", CppHost427, []string{"wasi_snapshot_preview1.fd_write", "wasi_snapshot_preview1.fd_pread"}, "wasi_snapshot_preview1.fd_pread"},
		{"cpphost427_refuses_sock_accept", CppHost427, []string{"wasi_snapshot_preview1.sock_accept"}, "wasi_snapshot_preview1.sock_accept"},
		{"cpphost533_loads_fd_pread", CppHost533, []string{"wasi_snapshot_preview1.fd_pread", "wasi_snapshot_preview1.sock_accept"}, ""},
		{"cpphost533_refuses_sock_open", CppHost533, []string{"wasi_snapshot_preview1.sock_open"}, "wasi_snapshot_preview1.sock_open"},
		{"unknown_proxy_wasm_function_refused", CppHost533, []string{"env.proxy_get_cpu_time"}, "env.proxy_get_cpu_time"},
		{"unknown_import_module_refused", CppHost427, []string{"wasi_unstable.fd_write"}, "wasi_unstable.fd_write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Compile(ctx, profileTestModule(tc.imports...), WithCacheDir(""), WithHostProfile(tc.profile))
			if tc.missing == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				m.Close(ctx)
				return
			}
			if err == nil {
				m.Close(ctx)
				t.Fatalf("loaded, want refused for %s", tc.missing)
			}
			if want := "Failed to load Wasm module due to a missing import: " + tc.missing; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
		})
	}
}

func TestHostProfileDefaultIsCppHost427(t *testing.T) {
	t.Setenv(HostProfileEnv, "")
	_, err := Compile(context.Background(), profileTestModule("wasi_snapshot_preview1.fd_readdir"), WithCacheDir(""))
	if err == nil || !strings.Contains(err.Error(), "missing import: wasi_snapshot_preview1.fd_readdir") {
		t.Fatalf("default profile loaded a module importing fd_readdir (err %v), want the #427 set enforced", err)
	}
}

func TestHostProfileFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		wantErr   string // "" if the fd_readdir module loads
	}{
		{"533_allows_its_wider_set", "533", ""},
		{"427_refuses", "427", "missing import"},
		{"unknown_value_named_in_error", "1.33", HostProfileEnv},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(HostProfileEnv, tc.env)
			m, err := Compile(context.Background(), profileTestModule("wasi_snapshot_preview1.fd_readdir"), WithCacheDir(""))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				m.Close(context.Background())
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestHostProfilePollOneoff(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		profile     HostProfile
		wantErrno   uint64
		wantNevents uint64
	}{
		{"cpphost427_returns_enosys", CppHost427, 52, 7},         // nevents untouched
		{"cpphost533_succeeds_with_no_events", CppHost533, 0, 0}, // even for a clock subscription
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := wazero.NewRuntime(ctx)
			defer r.Close(ctx)
			if err := tc.profile.instantiate(ctx, r); err != nil {
				t.Fatal(err)
			}
			mod, err := r.Instantiate(ctx, profileTestModule("wasi_snapshot_preview1.poll_oneoff"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := mod.ExportedFunction("call0").Call(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res[0] != tc.wantErrno {
				t.Errorf("poll_oneoff errno = %d, want %d", res[0], tc.wantErrno)
			}
			res, err = mod.ExportedFunction("nevents").Call(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res[0] != tc.wantNevents {
				t.Errorf("nevents = %d, want %d", res[0], tc.wantNevents)
			}
		})
	}
}
