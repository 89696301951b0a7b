package runner

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"runtime"
	"syscall"
)

// Main runs the command line args (without the program name) and returns the exit status, as
// the -h text states it: 0 success (validate: every configuration valid; serving: stopped by a
// signal; -h), 1 failure (validate: a configuration refused, like nginx -t; serving: could not
// start or failed), 2 a usage mistake (Go's flag package and most Unix tools use 2 for it).
func Main(args []string, stdout, stderr io.Writer) int {
	cmd, err := ParseArgs(args, stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "meshwaf: %v\nRun meshwaf -h for the flags.\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if cmd.Validate {
		if err := Validate(ctx, cmd.Options, stdout); err != nil {
			fmt.Fprintf(stderr, "meshwaf validate: %v\n", err)
			return 1
		}
		return 0
	}

	o := cmd.Options
	reserveSchedulerSlots(o.Workers)
	fmt.Fprintf(stderr, "meshwaf: loading %s with %s (%d worker(s))...\n", o.Module, configName(o.ConfigFile), o.Workers)
	s, err := Start(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "meshwaf: %v\n", err)
		return 1
	}
	logTo := "standard error"
	if o.LogFile != "" {
		logTo = o.LogFile
	}
	fmt.Fprintf(stdout, "meshwaf: serving http://%s -> %s; plugin log: %s; Ctrl-C stops\n", s.Addr(), s.Upstream(), logTo)
	if err := s.Wait(ctx); err != nil {
		fmt.Fprintf(stderr, "meshwaf: %v\n", err)
		return 1
	}
	return 0
}

// reserveSchedulerSlots keeps the HTTP server responsive while every VM is busy. Compiled Wasm
// in wazero cannot be preempted, so each busy VM holds one of Go's Ps until its callback
// returns; with GOMAXPROCS at or below the worker count, accepting connections and talking to
// the upstream would wait for a VM. Two slots above the workers keep that path free.
func reserveSchedulerSlots(workers int) {
	if want := workers + 2; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
}
