// Command ftw runs FTW (go-ftw format) regression tests against a WAF, by default the OWASP CRS
// suite embedded in coraza-coreruleset, and reads the WAF's log with go-ftw's marker protocol.
//
//	go run ./cmd/ftw --target http://127.0.0.1:8080 --log-file /tmp/meshwaf.log
//
// It exits 0 when every selected test passed, 1 when some failed and 2 when the run could not be
// carried out.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/meshwaf/meshwaf/ftw/backend"
	"github.com/meshwaf/meshwaf/ftw/runner"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ftw", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o runner.Options
	var backendAddr string
	fs.StringVar(&o.Target, "target", "", "send every request to `URL` (http://host:port), replacing each test's dest_addr/port/protocol")
	fs.StringVar(&o.LogFile, "log-file", "", "the WAF's log `file` (overrides logfile in the config)")
	fs.StringVar(&o.Dir, "dir", "", "load tests from `dir` (e.g. a CRS checkout's tests/regression/tests) instead of the embedded suite")
	fs.StringVar(&o.ConfigFile, "config", "", "go-ftw configuration `file` (default ./.ftw.yaml if it exists)")
	fs.StringVar(&o.OverridesFile, "overrides", "", "platform overrides `file` replacing expected outputs")
	fs.StringVar(&o.Include, "include", "", "run only tests whose name (<rule>-<test>) matches `regexp`; wins over --exclude")
	fs.StringVar(&o.Exclude, "exclude", "", "skip tests whose name matches `regexp`")
	fs.StringVar(&o.IncludeTags, "include-tags", "", "run only tests with a tag matching `regexp`")
	fs.StringVar(&o.ReportPath, "report", runner.DefaultReportPath, "write the JSON report to `file` (- for none)")
	fs.BoolVar(&o.Cloud, "cloud", false, "cloud mode: judge status codes only, read no log")
	fs.BoolVar(&o.Verbose, "verbose", false, "print every result, not only failures")
	fs.DurationVar(&o.ConnectTimeout, "connect-timeout", 3*time.Second, "connection timeout per request")
	fs.DurationVar(&o.ReadTimeout, "read-timeout", 10*time.Second, "response timeout per request")
	fs.StringVar(&backendAddr, "backend", "", "also serve the albedo-compatible backend on `addr` (e.g. 127.0.0.1:8000) during the run")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ftw: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if o.ConfigFile == "" {
		if _, err := os.Stat(".ftw.yaml"); err == nil {
			o.ConfigFile = ".ftw.yaml" // go-ftw's default
		}
	}
	if backendAddr != "" {
		be, err := backend.Start(backendAddr)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		defer be.Close()
		fmt.Fprintf(stderr, "ftw: backend listening on %s\n", be.Addr)
	}
	o.Out = stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	sum, err := runner.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		if errors.Is(err, context.Canceled) && sum.Failed > 0 {
			return 1
		}
		return 2
	}
	if sum.Failed > 0 {
		return 1
	}
	return 0
}
