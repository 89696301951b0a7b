// Command compare loads several builds of the plugin in one process and measures them in
// alternating rounds, so their figures are compared within one run on the same machine
// state: CRS load time, linear memory after load, the mean time of one corpus case, and
// linear memory after it (and after an optional mixed run over the whole corpus).
//
//	go run ./internal/bench/compare -rounds 3 -case benign_get -n 60 a.wasm b.wasm
//	go run ./internal/bench/compare -case post_json_10k -n 5 -trace build/meshwaf.wasm
//
// -trace prints linear memory after every request: whether a VM's memory levels off.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/meshwaf/meshwaf/internal/bench"
	"github.com/meshwaf/meshwaf/wasmhost"
)

func main() {
	rounds := flag.Int("rounds", 2, "rounds; each loads and measures every module once")
	caseName := flag.String("case", "benign_get", "corpus case to repeat")
	n := flag.Int("n", 50, "requests of -case per module and round")
	mixed := flag.Int("mixed", 0, "then this many requests round-robin over the whole corpus")
	trace := flag.Bool("trace", false, "print linear memory after every request of -case")
	flag.Parse()
	if err := run(*rounds, *caseName, *n, *mixed, *trace, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func run(rounds int, caseName string, n, mixed int, trace bool, paths []string) error {
	if len(paths) == 0 {
		return fmt.Errorf("name at least one .wasm")
	}
	corpus := bench.Corpus()
	var c *bench.Case
	for i := range corpus {
		if corpus[i].Name == caseName {
			c = &corpus[i]
		}
	}
	if c == nil {
		return fmt.Errorf("no corpus case %q", caseName)
	}
	ctx := context.Background()
	mods := make([]*wasmhost.Module, len(paths))
	envs := make([][]wasmhost.PluginOption, len(paths))
	for i, arg := range paths {
		p, env, _ := strings.Cut(arg, ",")
		for kv := range strings.SplitSeq(env, ",") {
			if kv == "" {
				continue
			}
			k, v, err := wasmhost.ParseEnv(kv)
			if err != nil {
				return fmt.Errorf("%s: %w", arg, err)
			}
			envs[i] = append(envs[i], wasmhost.WithEnv(k, v))
		}
		m, err := wasmhost.CompileFile(ctx, p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		defer m.Close(ctx)
		mods[i] = m
	}
	for r := range rounds {
		for i, m := range mods {
			start := time.Now()
			opts := append([]wasmhost.PluginOption{wasmhost.WithPluginConfig(bench.PluginConfig(bench.Directives)), wasmhost.WithVMs(1)}, envs[i]...)
			p, err := m.NewPlugin(ctx, opts...)
			if err != nil {
				return fmt.Errorf("%s: %w", paths[i], err)
			}
			load := time.Since(start)
			memory := func() float64 {
				sizes, _ := p.MemorySizes(ctx)
				return float64(sizes[0]) / (1 << 20)
			}
			afterLoad := memory()
			start = time.Now()
			for j := range n {
				if _, err := bench.Wasm(ctx, p, c); err != nil {
					return fmt.Errorf("%s: %s: %w", paths[i], c.Name, err)
				}
				if trace {
					fmt.Printf("%s %s #%d: %.1f MiB\n", paths[i], c.Name, j, memory())
				}
			}
			per := time.Since(start) / time.Duration(max(n, 1))
			afterCase := memory()
			start = time.Now()
			for j := range mixed {
				if _, err := bench.Wasm(ctx, p, &corpus[j%len(corpus)]); err != nil {
					return fmt.Errorf("%s: mixed: %w", paths[i], err)
				}
			}
			mixedPer := time.Since(start) / time.Duration(max(mixed, 1))
			fmt.Printf("round %d %-28s load %6d ms  %6.1f MiB  %s %8d µs  %6.1f MiB  mixed(%d) %8d µs %6.1f MiB\n",
				r, paths[i], load.Milliseconds(), afterLoad, c.Name, per.Microseconds(), afterCase, mixed, mixedPer.Microseconds(), memory())
			_ = p.Close(ctx)
		}
	}
	return nil
}
