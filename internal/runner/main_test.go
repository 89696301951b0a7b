package runner

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/meshwaf/meshwaf/internal/wasmbuild"
)

// The exit status is what scripts and CI act on (`meshwaf validate f.json && deploy`): 0 for
// success and for help that was asked for, 1 when the work failed (like nginx -t), 2 for a
// command-line mistake. Each case also says where its text goes.
func TestMainExitStatus(t *testing.T) {
	module := wasmbuild.ForTest(t, "github.com/meshwaf/meshwaf/internal/abitest/testplugin")
	dir := t.TempDir()
	good := writeFile(t, dir, "good.json", `{"ok": 1}`)
	missing := filepath.Join(dir, "missing.json")
	noModule := filepath.Join(dir, "none.wasm")

	for _, tc := range []struct {
		name       string
		args       []string
		want       int
		wantStdout []string
		wantStderr []string
	}{
		{name: "help_exits_0_on_stdout", args: []string{"-h"}, want: 0,
			wantStdout: []string{"Usage:", "Exit status:", "  2  a usage mistake", "-listen"}},
		{name: "long_help_exits_0", args: []string{"--help"}, want: 0, wantStdout: []string{"Exit status:"}},
		{name: "validate_help_exits_0", args: []string{"validate", "-h"}, want: 0, wantStdout: []string{"meshwaf validate [flags] FILE"}},

		{name: "unknown_flag_exits_2", args: []string{"--port", "80"}, want: 2,
			wantStderr: []string{"flag provided but not defined: -port", "Run meshwaf -h"}},
		{name: "bad_flag_value_exits_2", args: []string{"--workers", "0"}, want: 2, wantStderr: []string{"--workers 0: need at least 1"}},
		{name: "validate_without_file_exits_2", args: []string{"validate"}, want: 2,
			wantStderr: []string{"validate takes one configuration file, got 0 arguments"}},
		{name: "validate_two_files_exits_2", args: []string{"validate", good, good}, want: 2,
			wantStderr: []string{"validate takes one configuration file, got 2 arguments"}},
		{name: "stray_argument_exits_2", args: []string{good}, want: 2, wantStderr: []string{"unexpected argument"}},

		{name: "validate_unreadable_file_exits_1", args: []string{"validate", "--module", module, missing}, want: 1,
			wantStderr: []string{"meshwaf validate: plugin configuration: open " + missing}},
		{name: "validate_module_missing_exits_1", args: []string{"validate", "--module", noModule, good}, want: 1,
			wantStderr: []string{"none.wasm not found"}},
		{name: "serve_module_missing_exits_1", args: []string{"--module", noModule, "--listen", "127.0.0.1:0"}, want: 1,
			wantStderr: []string{"meshwaf: module " + noModule + " not found"}},

		{name: "validate_accepted_exits_0", args: []string{"validate", "--module", module, good}, want: 0,
			wantStdout: []string{good + ": valid for " + module}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			got := Main(tc.args, &stdout, &stderr)
			if got != tc.want {
				t.Errorf("Main(%q) = %d, want %d\nstdout:\n%s\nstderr:\n%s", tc.args, got, tc.want, stdout.String(), stderr.String())
			}
			checkOutput(t, "stdout", stdout.String(), tc.wantStdout)
			checkOutput(t, "stderr", stderr.String(), tc.wantStderr)
		})
	}
}

// checkOutput fails unless out holds every string of want, and is empty when want is.
func checkOutput(t *testing.T, name, out string, want []string) {
	t.Helper()
	if len(want) == 0 && out != "" {
		t.Errorf("%s = %q, want nothing", name, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s lacks %q:\n%s", name, w, out)
		}
	}
}

// Ctrl-C (SIGINT) ends serving with status 0: a stop that was asked for is not a failure.
func TestMainServeStopsOnInterruptWithStatus0(t *testing.T) {
	module := wasmbuild.ForTest(t, "github.com/meshwaf/meshwaf/internal/abitest/testplugin")
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.json", `{"test": true}`)
	var stdout, stderr syncBuffer
	status := make(chan int, 1)
	go func() {
		status <- Main([]string{"--module", module, "--config", cfg, "--listen", "127.0.0.1:0",
			"--log-file", filepath.Join(dir, "waf.log")}, &stdout, &stderr)
	}()
	// Main has installed its signal handler once it prints the serving line; a SIGINT before
	// that would end the test binary.
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(stdout.String(), "meshwaf: serving http://") {
		select {
		case got := <-status:
			t.Fatalf("Main returned %d before serving\nstderr:\n%s", got, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no serving line after a minute\nstderr:\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-status:
		if got != 0 {
			t.Errorf("Main = %d after SIGINT, want 0\nstderr:\n%s", got, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Main still running 30s after SIGINT")
	}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer is a strings.Builder a test can read while Main writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
