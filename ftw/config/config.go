// Package config reads go-ftw's configuration files: `.ftw.yaml` (log file, marker settings,
// run mode, include/exclude, input overrides and ignore/forcepass/forcefail lists) and the
// platform overrides file that replaces the expected output of chosen tests.
//
// Both are parsed once and validated completely (every regular expression compiled), so an
// error names the file, key and line before any request is sent.
package config

import (
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/goccy/go-yaml"

	"github.com/meshwaf/meshwaf/ftw/test"
)

// Mode is how results are judged.
type Mode string

const (
	// ModeDefault judges status, response and the WAF's log.
	ModeDefault Mode = "default"
	// ModeCloud judges status codes only, for WAFs whose log cannot be read: 403 where a rule
	// should fire, 200/404/405 where none should.
	ModeCloud Mode = "cloud"
)

// go-ftw's defaults.
const (
	DefaultLogMarkerHeaderName = "X-CRS-Test"
	DefaultMaxMarkerRetries    = 20
	DefaultMaxMarkerLogLines   = 500
)

// Config is a parsed `.ftw.yaml`.
type Config struct {
	LogFile             string
	LogMarkerHeaderName string
	Mode                Mode
	MaxMarkerRetries    int
	MaxMarkerLogLines   int
	Include             *regexp.Regexp // tests to run, by name (wins over Exclude and IncludeTags)
	Exclude             *regexp.Regexp // tests to skip, by name
	IncludeTags         *regexp.Regexp // tests to run, by tag
	CustomLogIDRegex    *regexp.Regexp // replaces the built-in rule-id patterns; group 1 is the id
	Input               InputOverride  // applied to every stage's input
	Ignore              []Rule         // tests not run, reported as skipped with the reason
	ForcePass           []Rule         // tests not run, counted as passed
	ForceFail           []Rule         // tests not run, counted as failed
}

// Rule is one entry of ignore/forcepass/forcefail: an unanchored regexp on the test name and why.
type Rule struct {
	Pattern *regexp.Regexp
	Reason  string
}

// Default is go-ftw's configuration when there is no file.
func Default() Config {
	return Config{
		LogMarkerHeaderName: DefaultLogMarkerHeaderName,
		Mode:                ModeDefault,
		MaxMarkerRetries:    DefaultMaxMarkerRetries,
		MaxMarkerLogLines:   DefaultMaxMarkerLogLines,
	}
}

// Verdict says whether the configuration decides a test without running it, checking ignore,
// then forcefail, then forcepass, as go-ftw does. kind is "" when the test must run.
func (c Config) Verdict(testName string) (kind, reason string) {
	for _, l := range []struct {
		kind  string
		rules []Rule
	}{{"ignore", c.Ignore}, {"forcefail", c.ForceFail}, {"forcepass", c.ForcePass}} {
		for _, r := range l.rules {
			if r.Pattern.MatchString(testName) {
				return l.kind, r.Reason
			}
		}
	}
	return "", ""
}

// fileConfig is the YAML shape of .ftw.yaml.
type fileConfig struct {
	LogFile             string        `yaml:"logfile"`
	LogMarkerHeaderName string        `yaml:"logmarkerheadername"`
	Mode                string        `yaml:"mode"`
	MaxMarkerRetries    *int          `yaml:"maxmarkerretries"`
	MaxMarkerLogLines   *int          `yaml:"maxmarkerloglines"`
	Include             string        `yaml:"include"`
	Exclude             string        `yaml:"exclude"`
	IncludeTags         string        `yaml:"include_tags"`
	CustomLogIDRegex    string        `yaml:"custom_log_id_regex"`
	TestOverride        testOverrides `yaml:"testoverride"`
}

type testOverrides struct {
	Input     InputOverride `yaml:"input"`
	Ignore    yaml.MapSlice `yaml:"ignore"`
	ForcePass yaml.MapSlice `yaml:"forcepass"`
	ForceFail yaml.MapSlice `yaml:"forcefail"`
}

// InputOverride replaces fields of every stage's input (testoverride.input), e.g. to point the
// suite at another host and port.
type InputOverride struct {
	DestAddr                *string           `yaml:"dest_addr"`
	Port                    *int              `yaml:"port"`
	Protocol                *string           `yaml:"protocol"`
	URI                     *string           `yaml:"uri"`
	Version                 *string           `yaml:"version"`
	Method                  *string           `yaml:"method"`
	Headers                 map[string]string `yaml:"headers"`
	Data                    *string           `yaml:"data"`
	SaveCookie              *bool             `yaml:"save_cookie"`
	StopMagic               *bool             `yaml:"stop_magic"`
	AutocompleteHeaders     *bool             `yaml:"autocomplete_headers"`
	EncodedRequest          *string           `yaml:"encoded_request"`
	OverrideEmptyHostHeader *bool             `yaml:"override_empty_host_header"`
}

// Apply returns in with the overrides applied, as go-ftw's ApplyInputOverrides does. in's
// header map is not modified.
func (o InputOverride) Apply(in test.Input) test.Input {
	set := func(dst **string, src *string) {
		if src != nil {
			*dst = src
		}
	}
	if o.Port != nil {
		in.Port = o.Port
	}
	set(&in.Protocol, o.Protocol)
	set(&in.URI, o.URI)
	set(&in.Version, o.Version)
	set(&in.Method, o.Method)
	set(&in.Data, o.Data)
	if o.SaveCookie != nil {
		in.SaveCookie = o.SaveCookie
	}
	if o.EncodedRequest != nil {
		in.EncodedRequest = *o.EncodedRequest
	}
	cloned := false
	setHeader := func(k, v string) {
		if !cloned {
			m := make(map[string]string, len(in.Headers)+1)
			for hk, hv := range in.Headers {
				m[hk] = hv
			}
			in.Headers, cloned = m, true
		}
		in.Headers[k] = v
	}
	if o.DestAddr != nil {
		in.DestAddr = o.DestAddr
		if o.OverrideEmptyHostHeader != nil && *o.OverrideEmptyHostHeader && in.Headers["Host"] == "" {
			setHeader("Host", *o.DestAddr)
		}
	}
	for k, v := range o.Headers {
		setHeader(k, v)
	}
	switch {
	case o.AutocompleteHeaders != nil:
		in.AutocompleteHeaders, in.StopMagic = o.AutocompleteHeaders, nil
	case o.StopMagic != nil:
		v := !*o.StopMagic
		in.AutocompleteHeaders, in.StopMagic = &v, nil
	}
	return in
}

// Load reads and validates a .ftw.yaml file.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("ftw/config: %w", err)
	}
	return Parse(path, data)
}

// Parse validates a .ftw.yaml document; name is used in errors.
func Parse(name string, data []byte) (Config, error) {
	var fc fileConfig
	if err := yaml.UnmarshalWithOptions(data, &fc, yaml.UseOrderedMap()); err != nil {
		return Config{}, yamlError(name, err)
	}
	c := Default()
	c.LogFile = fc.LogFile
	if fc.LogMarkerHeaderName != "" {
		c.LogMarkerHeaderName = fc.LogMarkerHeaderName
	}
	switch Mode(fc.Mode) {
	case "", ModeDefault:
	case ModeCloud:
		c.Mode = ModeCloud
	default:
		return Config{}, fmt.Errorf("ftw/config: %s: mode: %q is neither %q nor %q", name, fc.Mode, ModeDefault, ModeCloud)
	}
	if fc.MaxMarkerRetries != nil {
		if *fc.MaxMarkerRetries < 1 {
			return Config{}, fmt.Errorf("ftw/config: %s: maxmarkerretries: must be at least 1", name)
		}
		c.MaxMarkerRetries = *fc.MaxMarkerRetries
	}
	if fc.MaxMarkerLogLines != nil {
		if *fc.MaxMarkerLogLines < 1 {
			return Config{}, fmt.Errorf("ftw/config: %s: maxmarkerloglines: must be at least 1", name)
		}
		c.MaxMarkerLogLines = *fc.MaxMarkerLogLines
	}
	var err error
	for _, f := range []struct {
		key string
		src string
		dst **regexp.Regexp
	}{
		{"include", fc.Include, &c.Include},
		{"exclude", fc.Exclude, &c.Exclude},
		{"include_tags", fc.IncludeTags, &c.IncludeTags},
		{"custom_log_id_regex", fc.CustomLogIDRegex, &c.CustomLogIDRegex},
	} {
		if *f.dst, err = compileOptional(f.src); err != nil {
			return Config{}, fmt.Errorf("ftw/config: %s: %s: %w", name, f.key, err)
		}
	}
	if c.CustomLogIDRegex != nil && c.CustomLogIDRegex.NumSubexp() < 1 {
		return Config{}, fmt.Errorf("ftw/config: %s: custom_log_id_regex: needs a capture group for the rule id", name)
	}
	c.Input = fc.TestOverride.Input
	for _, l := range []struct {
		key string
		src yaml.MapSlice
		dst *[]Rule
	}{
		{"ignore", fc.TestOverride.Ignore, &c.Ignore},
		{"forcepass", fc.TestOverride.ForcePass, &c.ForcePass},
		{"forcefail", fc.TestOverride.ForceFail, &c.ForceFail},
	} {
		for _, item := range l.src {
			pattern := fmt.Sprint(item.Key) // keys such as 920100-1 may decode as strings or numbers
			re, err := regexp.Compile(pattern)
			if err != nil {
				return Config{}, fmt.Errorf("ftw/config: %s: testoverride.%s[%q]: %w", name, l.key, pattern, err)
			}
			reason := ""
			if item.Value != nil {
				reason = fmt.Sprint(item.Value)
			}
			*l.dst = append(*l.dst, Rule{Pattern: re, Reason: reason})
		}
	}
	return c, nil
}

func compileOptional(s string) (*regexp.Regexp, error) {
	if s == "" {
		return nil, nil
	}
	return regexp.Compile(s)
}

// yamlError names the file and line of a go-yaml error.
func yamlError(name string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tok := ye.GetToken(); tok != nil {
			return &located{msg: fmt.Sprintf("ftw/config: %s line %d: %s", name, tok.Position.Line, ye.GetMessage()), err: err}
		}
	}
	return fmt.Errorf("ftw/config: %s: %w", name, err)
}

// located is an error with a short message that still unwraps to the parser's error.
type located struct {
	msg string
	err error
}

func (e *located) Error() string { return e.msg }
func (e *located) Unwrap() error { return e.err }
