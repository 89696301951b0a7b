package runner

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/meshwaf/meshwaf/ftw/client"
	"github.com/meshwaf/meshwaf/ftw/config"
	"github.com/meshwaf/meshwaf/ftw/test"
)

// observation is what one stage produced.
type observation struct {
	resp  *client.Response
	err   error    // connecting, writing or reading the response head failed
	lines [][]byte // the stage's log lines (default mode only)
	ids   []uint   // rule ids in lines
}

// verdict is the outcome of judging one stage; a zero Expected means it passed.
type verdict struct {
	Expected string `json:"expected,omitempty"`
	Got      string `json:"got,omitempty"`
}

func (v verdict) passed() bool { return v.Expected == "" }

func (v verdict) String() string { return "expected " + v.Expected + ", got " + v.Got }

// cloudNegativeStatuses are the statuses go-ftw's cloud mode accepts where no rule should fire.
var cloudNegativeStatuses = []int{200, 404, 405}

// judge applies go-ftw's rules to one stage, checking in its order: expect_error alone; else
// status, response_contains, then the log (match_regex, expect_ids, isolated, no_match_regex,
// no_expect_ids). The first unmet expectation is reported.
//
// Cloud mode judges the status only: 403 where the stage expects rules to fire (expect_ids or
// match_regex), 200/404/405 where it expects none, or the exact expected status. Unlike go-ftw,
// which skips the status check when a test sets no `status`, a log expectation alone is still
// judged by its status here; otherwise cloud mode would pass every CRS test.
func judge(out test.Output, obs observation, mode config.Mode) verdict {
	if out.ExpectsError() {
		if obs.err != nil {
			return verdict{}
		}
		return verdict{"the request to fail", fmt.Sprintf("a response with status %d", obs.resp.StatusCode)}
	}
	if obs.err != nil {
		return verdict{"a response", "error: " + obs.err.Error()}
	}
	status := obs.resp.StatusCode
	if mode == config.ModeCloud {
		positive := len(out.Log.ExpectIDs) > 0 || out.Log.MatchRegex != ""
		negative := len(out.Log.NoExpectIDs) > 0 || out.Log.NoMatchRegex != ""
		ok := (positive && status == 403) || (negative && slices.Contains(cloudNegativeStatuses, status)) ||
			(out.Status != 0 && status == out.Status) || (!positive && !negative && out.Status == 0)
		if !ok {
			var want []string
			if out.Status != 0 {
				want = append(want, fmt.Sprint(out.Status))
			}
			if positive {
				want = append(want, "403")
			}
			if negative {
				want = append(want, "200/404/405")
			}
			return verdict{"status " + strings.Join(want, " or ") + " (cloud mode)", fmt.Sprintf("status %d", status)}
		}
	} else if out.Status != 0 && status != out.Status {
		return verdict{fmt.Sprintf("status %d", out.Status), fmt.Sprintf("status %d", status)}
	}
	if out.ResponseContains != "" && !compile(out.ResponseContains).Match(obs.resp.Raw) {
		return verdict{fmt.Sprintf("response matching %q", out.ResponseContains), fmt.Sprintf("%d-byte response without a match", len(obs.resp.Raw))}
	}
	if mode == config.ModeCloud {
		return verdict{}
	}
	fired := fmt.Sprintf("rules fired %v", obs.ids)
	if re := out.Log.MatchRegex; re != "" && !anyLineMatches(obs.lines, re) {
		return verdict{fmt.Sprintf("a log line matching %q", re), fmt.Sprintf("none in %d lines; %s", len(obs.lines), fired)}
	}
	if missing := without(out.Log.ExpectIDs, obs.ids, false); len(missing) > 0 {
		return verdict{fmt.Sprintf("rules %v in the log", out.Log.ExpectIDs), fired + fmt.Sprintf(" (missing %v)", missing)}
	}
	if out.Isolated && len(obs.ids) != 1 {
		return verdict{fmt.Sprintf("only rule %v in the log (isolated)", out.Log.ExpectIDs), fired}
	}
	if re := out.Log.NoMatchRegex; re != "" && anyLineMatches(obs.lines, re) {
		return verdict{fmt.Sprintf("no log line matching %q", re), "a matching line; " + fired}
	}
	if unwanted := without(out.Log.NoExpectIDs, obs.ids, true); len(unwanted) > 0 {
		return verdict{fmt.Sprintf("no rule of %v in the log", out.Log.NoExpectIDs), fired + fmt.Sprintf(" (unwanted %v)", unwanted)}
	}
	return verdict{}
}

// without returns the ids of want that are (present=true) or are not (present=false) in have.
func without(want, have []uint, present bool) []uint {
	var out []uint
	for _, id := range want {
		if slices.Contains(have, id) == present {
			out = append(out, id)
		}
	}
	return out
}

func anyLineMatches(lines [][]byte, pattern string) bool {
	re := compile(pattern)
	for _, l := range lines {
		if re.Match(l) {
			return true
		}
	}
	return false
}

// regexps caches compiled expectations: the loaders already validated them, and the same
// pattern recurs across thousands of stages.
var regexps sync.Map // string → *regexp.Regexp

// compile returns the compiled pattern; one that does not compile (the loaders reject those, so
// only hand-built tests can have one) matches nothing.
func compile(pattern string) *regexp.Regexp {
	if re, ok := regexps.Load(pattern); ok {
		return re.(*regexp.Regexp)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		re = regexp.MustCompile(`[^\x00-\x{10FFFF}]`)
	}
	regexps.Store(pattern, re)
	return re
}
