package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/meshwaf/meshwaf/internal/runner"
)

// httpModes are the runner configurations compared: the plugin with the full CRS, and the same
// plugin with no directive set for the authority (requests pass uninspected), so the difference
// is the WAF, not the proxy or the ABI.
var httpModes = []struct{ name, config string }{
	{"without_waf", `{"directives_map":{"none":["SecRuleEngine Off"]}}`},
	{"with_waf", string(PluginConfig(Directives))},
}

// httpLoad starts the local runner (built-in echo upstream) once per mode and sends benign
// GETs over keep-alive connections from o.HTTPConc clients for o.HTTPTime.
func httpLoad(ctx context.Context, o Options, r *Report) error {
	dir, err := os.MkdirTemp("", "meshwaf-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for _, m := range httpModes {
		cfg := filepath.Join(dir, m.name+".json")
		if err := os.WriteFile(cfg, []byte(m.config), 0o644); err != nil {
			return err
		}
		h, err := loadOne(ctx, o, m.name, runner.Options{
			Listen: "127.0.0.1:0", ConfigFile: cfg, Module: o.Wasm,
			LogFile: filepath.Join(dir, m.name+".log"), Workers: o.Workers,
		})
		if err != nil {
			return fmt.Errorf("%s: %w", m.name, err)
		}
		r.HTTP = append(r.HTTP, h)
		o.logf("http %-12s %8.0f req/s  p50 %.2f ms  p99 %.2f ms", h.Mode, h.RPS, h.P50Ms, h.P99Ms)
	}
	if len(r.HTTP) == 2 && r.HTTP[0].RPS > 0 {
		r.HTTPThroughputRatio = r.HTTP[1].RPS / r.HTTP[0].RPS
	}
	return nil
}

func loadOne(ctx context.Context, o Options, mode string, ro runner.Options) (HTTPReport, error) {
	srv, err := runner.Start(ctx, ro)
	if err != nil {
		return HTTPReport{}, err
	}
	stop, cancel := context.WithCancel(ctx)
	defer func() { cancel(); _ = srv.Wait(stop) }()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.HTTPConc, DisableCompression: true}}
	defer client.CloseIdleConnections()
	url := "http://" + srv.Addr() + "/index.html?page=1"
	get := func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("User-Agent", "meshwaf-bench")
		req.Header.Set("Accept", "text/html")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	for range 20 { // warm connections and the VMs
		if err := get(); err != nil {
			return HTTPReport{}, err
		}
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		firstErr  error
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(o.HTTPTime)
	for range o.HTTPConc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := get(); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					break
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return HTTPReport{}, firstErr
	}
	slices.Sort(latencies)
	return HTTPReport{
		Mode: mode, Requests: len(latencies), RPS: float64(len(latencies)) / elapsed.Seconds(),
		P50Ms: ms(percentile(latencies, 50)), P99Ms: ms(percentile(latencies, 99)),
	}, nil
}
