// Package runner runs FTW regression tests against a WAF and judges them as go-ftw does: each
// stage is sent as raw bytes, bracketed by log-marker requests, and its response and the WAF
// log lines between the markers are checked against the stage's expectations.
//
// Against one WAF, tests run one after another. The marker protocol attributes every log line
// between a start and an end marker to the stage in between, so two stages in flight would see
// each other's lines; go-ftw is sequential for the same reason. Options.Shards runs tests in
// parallel across several WAF instances, each with its own log file, which keeps that
// guarantee per log.
package runner

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/meshwaf/meshwaf/ftw/client"
	"github.com/meshwaf/meshwaf/ftw/config"
	"github.com/meshwaf/meshwaf/ftw/logmarker"
	"github.com/meshwaf/meshwaf/ftw/test"
)

// DefaultReportPath is where the JSON report goes unless Options.ReportPath says otherwise.
const DefaultReportPath = "build/ftw-report.json"

// Options configure a run. The zero value runs the embedded CRS suite with go-ftw's defaults and
// needs at least LogFile (or Cloud) and usually Target.
type Options struct {
	// Target ("http://host:port" or "https://host:port"), if set, receives every request: it
	// replaces each stage's dest_addr, port and protocol, after .ftw.yaml's testoverride.input.
	Target string
	// LogFile is the WAF log to read markers and rule ids from; it overrides .ftw.yaml's logfile.
	LogFile string
	// Shards, if set, replace Target and LogFile: tests are handed out one at a time to the
	// first idle shard, and each shard runs its tests sequentially against its own WAF and log.
	// Results are reported in test order whatever the order of completion.
	Shards []Shard

	// Files are the tests to run. If nil, they are loaded from Dir, else from the CRS suite
	// embedded in coraza-coreruleset (the same version as the rules).
	Files []test.File
	Dir   string

	// Config is the .ftw.yaml content; if nil it is read from ConfigFile, else defaults apply.
	Config     *config.Config
	ConfigFile string
	// Overrides replace expected outputs per test; if nil they are read from OverridesFile.
	Overrides     *config.Overrides
	OverridesFile string

	// Include, Exclude and IncludeTags are regexps overriding the config's (go-ftw's --include,
	// --exclude, --tag). Include wins over Exclude.
	Include, Exclude, IncludeTags string
	// Cloud judges status codes only and reads no log.
	Cloud bool

	// ReportPath is where the JSON report is written; "" means DefaultReportPath, "-" none.
	ReportPath string
	// Out receives failures, the summary line and, with Verbose, every result; nil discards.
	Out     io.Writer
	Verbose bool

	// ConnectTimeout and ReadTimeout bound each request (defaults 3s and 10s).
	ConnectTimeout, ReadTimeout time.Duration
}

// Shard is one WAF instance of a parallel run: where its requests go and the log only it
// writes to.
type Shard struct {
	Target  string `json:"target"`
	LogFile string `json:"log_file"`
}

// Outcome is a test's result.
type Outcome string

// Outcomes. Ignored tests count as skipped, forced ones as passed or failed.
const (
	Passed     Outcome = "passed"
	Failed     Outcome = "failed"
	Skipped    Outcome = "skipped"
	Ignored    Outcome = "ignored"
	ForcedPass Outcome = "forcepass"
	ForcedFail Outcome = "forcefail"
)

// Result is one test's outcome.
type Result struct {
	Name    string  `json:"name"`
	File    string  `json:"file"`
	Line    int     `json:"line"`
	Outcome Outcome `json:"result"`
	// Reason says why a test was skipped, ignored or forced, or which overrides changed its
	// expectations.
	Reason string `json:"reason,omitempty"`
	// Expected and Got describe the failure of the deciding (last) stage.
	Expected string        `json:"expected,omitempty"`
	Got      string        `json:"got,omitempty"`
	Stages   []StageResult `json:"stages,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
}

// StageResult is one stage's outcome.
type StageResult struct {
	Passed   bool   `json:"passed"`
	Expected string `json:"expected,omitempty"`
	Got      string `json:"got,omitempty"`
	Status   int    `json:"status,omitempty"`
	Error    string `json:"error,omitempty"`
	Rules    []uint `json:"rules,omitempty"` // rule ids found in the stage's log
	Retried  bool   `json:"retried,omitempty"`
}

// Summary counts a run's results, each result once: Passed includes forced passes, Failed
// forced failures, Skipped ignored tests.
type Summary struct {
	Passed, Failed, Skipped         int
	Ignored, ForcedPass, ForcedFail int
	Results                         []Result
	Duration                        time.Duration
}

func (s *Summary) add(r Result) {
	s.Results = append(s.Results, r)
	switch r.Outcome {
	case Passed:
		s.Passed++
	case ForcedPass:
		s.Passed++
		s.ForcedPass++
	case Failed:
		s.Failed++
	case ForcedFail:
		s.Failed++
		s.ForcedFail++
	case Skipped:
		s.Skipped++
	case Ignored:
		s.Skipped++
		s.Ignored++
	}
}

// Line is the closing line of a run: "ftw: N passed, N failed, N skipped".
func (s Summary) Line() string {
	return fmt.Sprintf("ftw: %d passed, %d failed, %d skipped", s.Passed, s.Failed, s.Skipped)
}

// Run loads the configuration and tests, runs every selected test and writes the report. The
// error is for runs that could not be carried out (bad configuration or tests, unreadable log,
// no marker ever found, cancelled context); failed tests are counted in the Summary, not
// returned as an error. On error the Summary holds the results so far.
func Run(ctx context.Context, opts Options) (Summary, error) {
	started := time.Now()
	r, err := newRun(opts)
	if err != nil {
		return Summary{}, err
	}
	defer r.close()
	var tests []test.Test
	for _, f := range r.files {
		tests = append(tests, f.Tests...)
	}
	results := make([]*Result, len(tests))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var (
		wg sync.WaitGroup
		mu sync.Mutex // guards printing and results
	)
	for _, w := range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res, err := w.runTest(ctx, tests[i])
				if err != nil {
					cancel(err)
					return
				}
				mu.Lock()
				r.print(res)
				results[i] = &res
				mu.Unlock()
			}
		}()
	}
feed:
	for _, i := range dispatchOrder(tests, len(r.workers)) {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, res := range results {
		if res != nil {
			r.summary.add(*res)
		}
	}
	return r.finish(started, context.Cause(ctx))
}

// dispatchOrder is the order tests are handed to the shards: the file order for one, else the
// biggest requests first. A test's cost grows with its payload (CRS 920390-1's 64 KB form takes
// seconds in Wasm): started last, it would run alone at the end while the other shards idle.
func dispatchOrder(tests []test.Test, shards int) []int {
	order := make([]int, len(tests))
	for i := range order {
		order[i] = i
	}
	if shards < 2 {
		return order
	}
	size := make([]int, len(tests))
	for i, t := range tests {
		for _, s := range t.Stages {
			in := s.Input
			size[i] += len(in.EncodedRequest) + len(in.GetURI())
			if in.Data != nil {
				size[i] += len(*in.Data)
			}
			if in.EncodedData != nil {
				size[i] += len(*in.EncodedData)
			}
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return size[b] - size[a] })
	return order
}

type run struct {
	opts      Options
	cfg       config.Config
	overrides *config.Overrides
	files     []test.File
	client    client.Client
	out       io.Writer
	workers   []*worker
	summary   Summary
}

// worker runs tests sequentially against one WAF and reads its log.
type worker struct {
	*run
	target  *config.InputOverride
	logFile string
	log     *logmarker.Reader
	// markerSeen is set once a marker was found: before that, a missing marker means the log or
	// the marker rule is misconfigured and the run stops instead of failing every test.
	markerSeen bool
	// lastEnd is the end marker of the stage before, found at lastEndAt (address and marker
	// host); zero when the next stage needs its own start marker.
	lastEnd   logmarker.Marker
	lastEndAt string
}

func newRun(opts Options) (_ *run, err error) {
	r := &run{opts: opts, out: opts.Out, client: client.Client{ConnectTimeout: opts.ConnectTimeout, ReadTimeout: opts.ReadTimeout}}
	if r.out == nil {
		r.out = io.Discard
	}
	switch {
	case opts.Config != nil:
		r.cfg = *opts.Config
	case opts.ConfigFile != "":
		if r.cfg, err = config.Load(opts.ConfigFile); err != nil {
			return nil, err
		}
	default:
		r.cfg = config.Default()
	}
	if opts.LogFile != "" {
		r.cfg.LogFile = opts.LogFile
	}
	if opts.Cloud {
		r.cfg.Mode = config.ModeCloud
	}
	for _, f := range []struct {
		flag, src string
		dst       **regexp.Regexp
	}{{"include", opts.Include, &r.cfg.Include}, {"exclude", opts.Exclude, &r.cfg.Exclude}, {"include-tags", opts.IncludeTags, &r.cfg.IncludeTags}} {
		if f.src == "" {
			continue
		}
		if *f.dst, err = regexp.Compile(f.src); err != nil {
			return nil, fmt.Errorf("ftw/runner: --%s: %w", f.flag, err)
		}
	}
	switch {
	case opts.Overrides != nil:
		r.overrides = opts.Overrides
	case opts.OverridesFile != "":
		if r.overrides, err = config.LoadOverrides(opts.OverridesFile); err != nil {
			return nil, err
		}
	}
	switch {
	case opts.Files != nil:
		r.files = opts.Files
		for _, f := range r.files {
			for _, t := range f.Tests {
				for i, s := range t.Stages {
					if err := s.Validate(); err != nil {
						return nil, fmt.Errorf("ftw/runner: %s: test %s stage %d: %w", t.Location(), t.Name(), i+1, err)
					}
				}
			}
		}
	case opts.Dir != "":
		if r.files, err = test.LoadDir(opts.Dir); err != nil {
			return nil, err
		}
	default:
		if r.files, err = test.Embedded(); err != nil {
			return nil, err
		}
	}
	shards := opts.Shards
	if len(shards) == 0 {
		shards = []Shard{{Target: opts.Target, LogFile: r.cfg.LogFile}}
	} else if opts.Target != "" || opts.LogFile != "" {
		return nil, errors.New("ftw/runner: give either Shards or Target and LogFile, not both")
	}
	defer func() {
		if err != nil {
			r.close()
		}
	}()
	for i, sh := range shards {
		w := &worker{run: r, logFile: sh.LogFile}
		r.workers = append(r.workers, w)
		if sh.Target != "" {
			if w.target, err = targetOverride(sh.Target); err != nil {
				return nil, err
			}
		}
		if r.cfg.Mode == config.ModeCloud {
			continue
		}
		if sh.LogFile == "" {
			if len(shards) > 1 {
				return nil, fmt.Errorf("ftw/runner: shard %d (%s) has no log file", i+1, sh.Target)
			}
			return nil, errors.New("ftw/runner: no WAF log file: set --log-file or logfile in .ftw.yaml, or use cloud mode")
		}
		if w.log, err = logmarker.Open(sh.LogFile, r.cfg.LogMarkerHeaderName, r.cfg.MaxMarkerLogLines); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// targetOverride turns --target into an input override of dest_addr, port and protocol.
func targetOverride(target string) (*config.InputOverride, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, fmt.Errorf("ftw/runner: target %q: want http://host:port or https://host:port", target)
	}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("ftw/runner: target %q: port: %w", target, err)
		}
	}
	host, scheme := u.Hostname(), u.Scheme
	return &config.InputOverride{DestAddr: &host, Port: &port, Protocol: &scheme}, nil
}

func (r *run) close() {
	for _, w := range r.workers {
		if w.log != nil {
			_ = w.log.Close()
			w.log = nil
		}
	}
}

// selected applies go-ftw's selection: an --include match always runs; otherwise a test is
// skipped if include_tags matches none of its tags, if it matches --exclude, or if --include is
// set and it does not match.
func (r *run) selected(t test.Test) bool {
	name := t.Name()
	if r.cfg.Include != nil && r.cfg.Include.MatchString(name) {
		return true
	}
	if r.cfg.IncludeTags != nil {
		match := false
		for _, tag := range t.Tags {
			if r.cfg.IncludeTags.MatchString(tag) {
				match = true
				break
			}
		}
		if !match {
			return false
		}
	}
	if r.cfg.Exclude != nil && r.cfg.Exclude.MatchString(name) {
		return false
	}
	return r.cfg.Include == nil
}

func (r *worker) runTest(ctx context.Context, t test.Test) (Result, error) {
	res := Result{Name: t.Name(), File: t.File, Line: t.Line}
	if !r.selected(t) {
		res.Outcome, res.Reason = Skipped, "not selected by include/exclude/include_tags"
		return res, nil
	}
	switch kind, reason := r.cfg.Verdict(res.Name); kind {
	case "ignore":
		res.Outcome, res.Reason = Ignored, reason
		return res, nil
	case "forcefail":
		res.Outcome, res.Reason = ForcedFail, reason
		return res, nil
	case "forcepass":
		res.Outcome, res.Reason = ForcedPass, reason
		return res, nil
	}
	t, reasons := r.overrides.Apply(t)
	if len(reasons) > 0 {
		res.Reason = "overridden: " + joinReasons(reasons)
	}
	start := time.Now()
	for i, s := range t.Stages {
		sr, err := r.runStage(ctx, t, i, s)
		if err != nil {
			return res, err
		}
		if !sr.Passed && s.Output.Retries() {
			if sr, err = r.runStage(ctx, t, i, s); err != nil {
				return res, err
			}
			sr.Retried = true
		}
		res.Stages = append(res.Stages, sr)
	}
	res.Duration = time.Since(start)
	// A multi-stage test is decided by its last stage, as in go-ftw.
	last := res.Stages[len(res.Stages)-1]
	res.Outcome = Passed
	if !last.Passed {
		res.Outcome, res.Expected, res.Got = Failed, last.Expected, last.Got
	}
	return res, nil
}

func joinReasons(rs []string) string {
	s := rs[0]
	for _, r := range rs[1:] {
		s += "; " + r
	}
	return s
}

// runStage sends one stage between its markers and judges it. The error is reserved for
// conditions that end the run.
func (r *worker) runStage(ctx context.Context, t test.Test, idx int, s test.Stage) (StageResult, error) {
	in := r.cfg.Input.Apply(s.Input)
	if r.target != nil {
		in = r.target.Apply(in)
	}
	expectErr := s.Output.ExpectsError()
	if in.FollowRedirect {
		return StageResult{Expected: "a supported stage", Got: "follow_redirect, which this runner does not implement"}, nil
	}
	req, err := buildRequest(in)
	if err != nil {
		return StageResult{Expected: "a valid request", Got: err.Error()}, nil
	}
	addr := net.JoinHostPort(in.GetDestAddr(), strconv.Itoa(in.GetPort()))
	useTLS := in.GetProtocol() == "https"
	markerHost := "localhost"
	if in.VirtualHostMode && in.Headers["Host"] != "" {
		markerHost = in.Headers["Host"] // keep the markers on the test's virtual host
	}
	id := t.Name() + "-" + newUUID()

	var startMarker logmarker.Marker
	if r.log != nil {
		// The previous stage's end marker, if it went to the same place, also starts this
		// stage: nothing reaches this WAF in between, and one marker request per stage is saved.
		if r.lastEnd.Line != nil && r.lastEndAt == addr+"|"+markerHost {
			startMarker = r.lastEnd
		} else {
			var err error
			if startMarker, err = r.mark(ctx, addr, useTLS, markerHost, id+"-s"); err != nil && !expectErr {
				return r.markerFailure(idx, "start", err)
			}
		}
		r.lastEnd = logmarker.Marker{}
	}
	resp, reqErr := r.client.Do(ctx, addr, useTLS, req)
	if err := ctx.Err(); err != nil {
		return StageResult{}, err
	}
	obs := observation{resp: resp, err: reqErr}
	sr := StageResult{}
	if reqErr != nil {
		sr.Error = reqErr.Error()
	} else {
		sr.Status = resp.StatusCode
	}
	if r.log != nil {
		endMarker, err := r.mark(ctx, addr, useTLS, markerHost, id+"-e")
		if err != nil && !expectErr {
			return r.markerFailure(idx, "end", err)
		}
		if err == nil {
			r.lastEnd, r.lastEndAt = endMarker, addr+"|"+markerHost
		}
		if err == nil && startMarker.Line != nil {
			lines, err := r.log.Between(startMarker, endMarker)
			if err != nil {
				return StageResult{}, fmt.Errorf("ftw/runner: %s stage %d: %w", t.Name(), idx+1, err)
			}
			obs.lines, obs.ids = lines, logIDs(lines, r.cfg.CustomLogIDRegex)
			sr.Rules = obs.ids
		}
	}
	v := judge(s.Output, obs, r.cfg.Mode)
	sr.Passed, sr.Expected, sr.Got = v.passed(), v.Expected, v.Got
	return sr, nil
}

// markerFailure turns a missing marker into a failed stage, or ends the run if no marker was
// ever found: then the log or the WAF's marker rule is misconfigured, and every test would fail.
func (r *worker) markerFailure(idx int, which string, err error) (StageResult, error) {
	if !r.markerSeen {
		return StageResult{}, fmt.Errorf("ftw/runner: %s marker of the first test: %w", which, err)
	}
	return StageResult{Expected: which + " marker in the log", Got: err.Error()}, nil
}

// mark sends the marker request until the WAF's log shows it, as go-ftw's markAndFlush does:
// each re-send also pushes buffered log lines out.
func (r *worker) mark(ctx context.Context, addr string, useTLS bool, host, id string) (logmarker.Marker, error) {
	req := client.Request{
		Method: "GET", URI: "/status/200", Version: "HTTP/1.1", Autocomplete: true, SortHeaders: true,
		Headers: client.MapHeaders(map[string]string{
			"Accept":                  "*/*",
			"User-Agent":              "go-ftw test agent",
			"Host":                    host,
			r.cfg.LogMarkerHeaderName: id,
		}),
	}.Bytes()
	for attempt := range r.cfg.MaxMarkerRetries {
		if _, err := r.client.Do(ctx, addr, useTLS, req); err != nil {
			return logmarker.Marker{}, fmt.Errorf("sending marker %s: %w", id, err)
		}
		m, err := r.log.Find(id)
		if err == nil {
			r.markerSeen = true
			return m, nil
		}
		if !errors.Is(err, logmarker.ErrNotFound) {
			return logmarker.Marker{}, err
		}
		// go-ftw re-sends at once; a short, growing pause also lets a buffered writer catch up.
		select {
		case <-ctx.Done():
			return logmarker.Marker{}, ctx.Err()
		case <-time.After(time.Duration(attempt) * 5 * time.Millisecond):
		}
	}
	return logmarker.Marker{}, fmt.Errorf("marker %s not in the last %d lines of %s after %d requests: does the WAF log the %s header (the @ftw-conf marker rule)?",
		id, r.cfg.MaxMarkerLogLines, r.logFile, r.cfg.MaxMarkerRetries, r.cfg.LogMarkerHeaderName)
}

// buildRequest turns a stage input into wire bytes.
func buildRequest(in test.Input) ([]byte, error) {
	raw, err := in.Raw()
	if err != nil {
		return nil, err
	}
	if raw != nil {
		return raw, nil
	}
	body, err := in.Body()
	if err != nil {
		return nil, err
	}
	req := client.Request{Method: in.GetMethod(), URI: in.GetURI(), Version: in.GetVersion(), Body: body, Autocomplete: in.Autocomplete()}
	if len(in.OrderedHeaders) > 0 {
		for _, h := range in.OrderedHeaders {
			req.Headers = append(req.Headers, client.Header{Name: h.Name, Value: h.Value})
		}
		req.Headers = append(req.Headers, client.MapHeaders(in.Headers)...)
	} else {
		req.Headers, req.SortHeaders = client.MapHeaders(in.Headers), true
	}
	return req.Bytes(), nil
}

// newUUID returns a random (version 4) UUID, the unique part of a marker id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
