package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
)

// v8Result is the driver's output line.
type v8Result struct {
	NsPerOp     float64 `json:"ns_per_op"`
	Ops         int     `json:"ops"`
	LoadMs      float64 `json:"load_ms"`
	MemoryBytes int64   `json:"memory_bytes"`
	Blocked     bool    `json:"blocked"`
}

// v8Case is the driver's case.json: the same exchange bench.Wasm drives.
type v8Case struct {
	PluginConfig    string      `json:"plugin_config"`
	RequestHeaders  [][2]string `json:"request_headers"`
	RequestBody     string      `json:"request_body"`
	ResponseHeaders [][2]string `json:"response_headers"`
	ResponseBody    string      `json:"response_body"`
}

// driverPath is v8/driver.mjs next to this file.
func driverPath() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("locating v8/driver.mjs")
	}
	return filepath.Join(filepath.Dir(file), "v8", "driver.mjs"), nil
}

// runV8 times o.V8N benign GETs of the same module in node.
func runV8(ctx context.Context, o Options) (*v8Result, error) {
	node, err := exec.LookPath(o.Node)
	if err != nil {
		return nil, fmt.Errorf("node not found (%w)", err)
	}
	driver, err := driverPath()
	if err != nil {
		return nil, err
	}
	c := Corpus()[0]
	tc := v8Case{PluginConfig: string(PluginConfig(Directives)), RequestHeaders: c.requestHeaders(),
		RequestBody: string(c.Body), ResponseHeaders: c.responseHeaders(), ResponseBody: string(c.RespBody)}
	f, err := os.CreateTemp("", "meshwaf-v8-case-*.json")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if err := json.NewEncoder(f).Encode(tc); err != nil {
		f.Close()
		return nil, err
	}
	f.Close()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, node, "--no-warnings", driver, o.Wasm, f.Name(), strconv.Itoa(o.V8N))
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s: %w: %s", driver, err, lastLines(stderr.String()))
	}
	var r v8Result
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); err != nil {
		return nil, fmt.Errorf("driver output %q: %w", out.String(), err)
	}
	if r.Blocked {
		return nil, fmt.Errorf("benign GET blocked in V8")
	}
	return &r, nil
}

func lastLines(s string) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte("\n"))
	if len(lines) > 5 {
		lines = lines[len(lines)-5:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
