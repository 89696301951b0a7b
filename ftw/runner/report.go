package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/meshwaf/meshwaf/ftw/logmarker"
)

func logIDs(lines [][]byte, custom *regexp.Regexp) []uint { return logmarker.RuleIDs(lines, custom) }

// print prints a result: failures always, the rest with Verbose.
func (r *run) print(res Result) {
	where := fmt.Sprintf("%s:%d", res.File, res.Line)
	switch res.Outcome {
	case Failed:
		fmt.Fprintf(r.out, "FAIL %s (%s): expected %s, got %s\n", res.Name, where, res.Expected, res.Got)
		for i, s := range res.Stages[:len(res.Stages)-1] {
			if !s.Passed {
				fmt.Fprintf(r.out, "     stage %d: expected %s, got %s\n", i+1, s.Expected, s.Got)
			}
		}
	case ForcedFail:
		fmt.Fprintf(r.out, "FAIL %s (%s): forced to fail: %s\n", res.Name, where, res.Reason)
	case Passed, ForcedPass, Ignored:
		if r.opts.Verbose {
			line := fmt.Sprintf("%-4s %s", map[Outcome]string{Passed: "PASS", ForcedPass: "PASS", Ignored: "SKIP"}[res.Outcome], res.Name)
			if res.Reason != "" {
				line += " (" + string(res.Outcome) + ": " + res.Reason + ")"
			}
			fmt.Fprintln(r.out, line)
		}
	}
}

// jsonReport is the file written to Options.ReportPath.
type jsonReport struct {
	Passed     int       `json:"passed"`
	Failed     int       `json:"failed"`
	Skipped    int       `json:"skipped"`
	Ignored    int       `json:"ignored"`
	ForcedPass int       `json:"forced_pass"`
	ForcedFail int       `json:"forced_fail"`
	Target     string    `json:"target,omitempty"`
	LogFile    string    `json:"log_file,omitempty"`
	Shards     []Shard   `json:"shards,omitempty"`
	Mode       string    `json:"mode"`
	Started    time.Time `json:"started"`
	Duration   string    `json:"duration"`
	Error      string    `json:"error,omitempty"`
	Results    []Result  `json:"results"`
}

// finish prints the summary, writes the report and returns the summary with runErr.
func (r *run) finish(started time.Time, runErr error) (Summary, error) {
	r.summary.Duration = time.Since(started)
	s := r.summary
	if s.Ignored+s.ForcedPass+s.ForcedFail > 0 {
		fmt.Fprintf(r.out, "ftw: of these, %d ignored, %d forced to pass, %d forced to fail (reasons in the report)\n", s.Ignored, s.ForcedPass, s.ForcedFail)
	}
	if runErr != nil {
		fmt.Fprintf(r.out, "ftw: run stopped: %v\n", runErr)
	}
	fmt.Fprintln(r.out, s.Line())
	if path := r.opts.ReportPath; path != "-" {
		if path == "" {
			path = DefaultReportPath
		}
		rep := jsonReport{
			Passed: s.Passed, Failed: s.Failed, Skipped: s.Skipped, Ignored: s.Ignored, ForcedPass: s.ForcedPass, ForcedFail: s.ForcedFail,
			Target: r.opts.Target, LogFile: r.cfg.LogFile, Shards: r.opts.Shards, Mode: string(r.cfg.Mode), Started: started.UTC(),
			Duration: s.Duration.Round(time.Millisecond).String(), Results: s.Results,
		}
		if runErr != nil {
			rep.Error = runErr.Error()
		}
		if err := writeJSON(path, rep); err != nil {
			runErr = errors.Join(runErr, err)
		}
	}
	return s, runErr
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("ftw/runner: report: %w", err)
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("ftw/runner: report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("ftw/runner: report: %w", err)
	}
	return nil
}
