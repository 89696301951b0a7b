// Package test holds the FTW regression-test schema (the YAML format read by go-ftw) and loads
// test files from a directory or an fs.FS, such as the CRS suite embedded in
// github.com/corazawaf/coraza-coreruleset/v4/tests.
//
// The field names and defaults follow github.com/coreruleset/ftw-tests-schema, so files written
// for go-ftw load unchanged. Unknown keys are ignored, as go-ftw ignores them.
package test

import (
	"fmt"
	"regexp"
)

// File is one YAML test file.
type File struct {
	// Path is the file's path relative to the loaded root (slash-separated).
	Path   string `yaml:"-"`
	Meta   Meta   `yaml:"meta"`
	RuleID uint   `yaml:"rule_id"`
	Tests  []Test `yaml:"tests"`
}

// Meta is a file's metadata; only Tags matters to the runner.
type Meta struct {
	Author      string   `yaml:"author"`
	Description string   `yaml:"description"`
	Name        string   `yaml:"name"`
	Version     string   `yaml:"version"`
	Enabled     *bool    `yaml:"enabled"` // deprecated upstream and ignored, as go-ftw does
	Tags        []string `yaml:"tags"`
}

// Test is one test case: a sequence of stages judged by the last one.
type Test struct {
	RuleID uint     `yaml:"-"`
	TestID uint     `yaml:"test_id"`
	Desc   string   `yaml:"desc"`
	Tags   []string `yaml:"tags"`
	Stages []Stage  `yaml:"stages"`

	// File and Line locate the test for error messages and reports.
	File string `yaml:"-"`
	Line int    `yaml:"-"`
}

// Name is the test's identity, "<rule_id>-<test_id>", matched by include/exclude and overrides.
func (t Test) Name() string { return fmt.Sprintf("%d-%d", t.RuleID, t.TestID) }

// Location is "file:line" for messages.
func (t Test) Location() string { return fmt.Sprintf("%s:%d", t.File, t.Line) }

// Stage is one request and the expectations on its outcome.
type Stage struct {
	Description string `yaml:"description"`
	Input       Input  `yaml:"input"`
	Output      Output `yaml:"output"`
}

// Input describes the request. Pointer fields distinguish "absent" (use the default) from an
// explicit empty value: `version: ""` must send an empty version, not HTTP/1.1.
type Input struct {
	DestAddr            *string           `yaml:"dest_addr"`
	Port                *int              `yaml:"port"`
	Protocol            *string           `yaml:"protocol"`
	Method              *string           `yaml:"method"`
	URI                 *string           `yaml:"uri"`
	Version             *string           `yaml:"version"`
	Headers             map[string]string `yaml:"headers"`
	OrderedHeaders      []Header          `yaml:"ordered_headers"`
	Data                *string           `yaml:"data"`
	EncodedData         *string           `yaml:"encoded_data"`
	EncodedRequest      string            `yaml:"encoded_request"`
	RawRequest          string            `yaml:"raw_request"` // deprecated: the literal request
	AutocompleteHeaders *bool             `yaml:"autocomplete_headers"`
	StopMagic           *bool             `yaml:"stop_magic"` // deprecated inverse of autocomplete_headers
	VirtualHostMode     bool              `yaml:"virtual_host_mode"`
	FollowRedirect      bool              `yaml:"follow_redirect"`
	SaveCookie          *bool             `yaml:"save_cookie"`
}

// Header is one entry of ordered_headers.
type Header struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// Output holds the expectations of a stage.
type Output struct {
	Status           int    `yaml:"status"`
	ResponseContains string `yaml:"response_contains"`
	LogContains      string `yaml:"log_contains"`    // deprecated: becomes Log.MatchRegex
	NoLogContains    string `yaml:"no_log_contains"` // deprecated: becomes Log.NoMatchRegex
	Log              Log    `yaml:"log"`
	ExpectError      *bool  `yaml:"expect_error"`
	RetryOnce        *bool  `yaml:"retry_once"`
	Isolated         bool   `yaml:"isolated"`
}

// Log holds the expectations on the WAF log lines of a stage.
type Log struct {
	ExpectIDs    []uint `yaml:"expect_ids" json:"expect_ids,omitempty"`
	NoExpectIDs  []uint `yaml:"no_expect_ids" json:"no_expect_ids,omitempty"`
	MatchRegex   string `yaml:"match_regex" json:"match_regex,omitempty"`
	NoMatchRegex string `yaml:"no_match_regex" json:"no_match_regex,omitempty"`
}

// Defaults used by go-ftw when an input field is absent.
const (
	DefaultDestAddr = "localhost"
	DefaultPort     = 80
	DefaultProtocol = "http"
	DefaultMethod   = "GET"
	DefaultURI      = "/"
	DefaultVersion  = "HTTP/1.1"
)

// GetDestAddr returns dest_addr or its default.
func (in Input) GetDestAddr() string { return strOr(in.DestAddr, DefaultDestAddr) }

// GetPort returns port or its default.
func (in Input) GetPort() int {
	if in.Port == nil {
		return DefaultPort
	}
	return *in.Port
}

// GetProtocol returns protocol or its default.
func (in Input) GetProtocol() string { return strOr(in.Protocol, DefaultProtocol) }

// GetMethod returns method or its default.
func (in Input) GetMethod() string { return strOr(in.Method, DefaultMethod) }

// GetURI returns uri or its default.
func (in Input) GetURI() string { return strOr(in.URI, DefaultURI) }

// GetVersion returns version or its default; an explicit "" stays empty.
func (in Input) GetVersion() string { return strOr(in.Version, DefaultVersion) }

// Autocomplete reports whether go-ftw's header autocompletion applies: autocomplete_headers
// wins, else the inverse of the deprecated stop_magic, else true.
func (in Input) Autocomplete() bool {
	switch {
	case in.AutocompleteHeaders != nil:
		return *in.AutocompleteHeaders
	case in.StopMagic != nil:
		return !*in.StopMagic
	}
	return true
}

// ExpectsError reports whether the stage passes only when the request fails.
func (o Output) ExpectsError() bool { return o.ExpectError != nil && *o.ExpectError }

// Retries reports whether a failed stage is run once more.
func (o Output) Retries() bool { return o.RetryOnce != nil && *o.RetryOnce }

// Normalize maps the deprecated log_contains/no_log_contains onto log.match_regex and
// log.no_match_regex, as go-ftw does.
func (o *Output) Normalize() {
	if o.Log.MatchRegex == "" && o.LogContains != "" {
		o.Log.MatchRegex = o.LogContains
	}
	if o.Log.NoMatchRegex == "" && o.NoLogContains != "" {
		o.Log.NoMatchRegex = o.NoLogContains
	}
	o.LogContains, o.NoLogContains = "", ""
}

// Validate checks what go-ftw only finds while running: conflicting inputs, isolated without
// exactly one expected id, and regular expressions that do not compile.
func (s Stage) Validate() error {
	if s.Input.Data != nil && s.Input.EncodedRequest != "" {
		return fmt.Errorf("'data' and 'encoded_request' must not be set together")
	}
	if s.Output.Isolated && len(s.Output.Log.ExpectIDs) != 1 {
		return fmt.Errorf("'isolated' needs exactly one id in 'expect_ids', have %d", len(s.Output.Log.ExpectIDs))
	}
	for key, re := range map[string]string{
		"response_contains":  s.Output.ResponseContains,
		"log.match_regex":    s.Output.Log.MatchRegex,
		"log.no_match_regex": s.Output.Log.NoMatchRegex,
	} {
		if re == "" {
			continue
		}
		if _, err := regexp.Compile(re); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
	if _, err := s.Input.Body(); err != nil {
		return err
	}
	if _, err := s.Input.Raw(); err != nil {
		return err
	}
	return nil
}

func strOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}
