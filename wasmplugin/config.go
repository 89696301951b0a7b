package wasmplugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Config is the plugin configuration, parsed and validated once by ParseConfig and not
// changed afterwards. Its JSON keys are the ones users of the Coraza proxy-wasm filter write,
// with the same meaning, so switching filters only means changing the module.
type Config struct {
	// DirectiveSets maps a name to its directive lines (directives_map).
	DirectiveSets map[string][]string
	// Default names the set for authorities without their own; empty for none.
	Default string
	// Authorities maps an authority, host or "*.suffix" pattern to a set name.
	Authorities map[string]string
	// MetricLabels are added to every metric name, keys and values as given.
	MetricLabels map[string]string
	// FailureMode says what a stream gets when the WAF fails while inspecting it (a panic or an
	// inspection error): FailClosed, a 500, or FailOpen, passing on uninspected.
	FailureMode FailureMode
	// Warnings are things the plugin logs at start-up without refusing the configuration.
	Warnings []string
}

// FailureMode is the failure_mode key: what happens to a stream the WAF failed to inspect.
type FailureMode string

const (
	// FailClosed answers 500: a request the WAF could not inspect never reaches the upstream,
	// nor a response the client. The default.
	FailClosed FailureMode = "closed"
	// FailOpen lets the stream go on uninspected, logged and counted.
	FailOpen FailureMode = "open"
)

// ConfigError says which part of the configuration is wrong: the key, and for a directive set
// its name, and for a directive its line (1-based index in the list) and directive name.
type ConfigError struct {
	Key       string
	Set       string
	Line      int
	Directive string
	Err       error
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.Key)
	if e.Set != "" {
		fmt.Fprintf(&b, "[%q]", e.Set)
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Directive != "" {
		fmt.Fprintf(&b, " (%s)", e.Directive)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// Configuration keys.
const (
	keyDirectivesMap    = "directives_map"
	keyDefault          = "default_directives"
	keyPerAuthority     = "per_authority_directives"
	keyMetricLabels     = "metric_labels"
	keyRules            = "rules"
	keyFailureMode      = "failure_mode"
	deprecatedRulesName = "default"
)

var (
	errNotObject   = errors.New("must be a JSON object")
	errEmptyConfig = errors.New("plugin configuration is empty: it needs at least directives_map")
	errNoSets      = errors.New("no directive sets: the map is empty")
	errUnknownSet  = errors.New("names no entry of directives_map")
	errReserved    = errors.New("is a tag meshwaf sets itself")
	errFailureMode = fmt.Errorf("is not a failure mode: want %q (the default) or %q", FailClosed, FailOpen)
)

// ParseConfig parses and validates the plugin configuration JSON. It is pure: checking that
// the directives compile is the WAF builder's job. Independent mistakes are all reported, as
// one *ConfigError each joined with errors.Join, so an operator fixes them in one round.
func ParseConfig(data []byte) (*Config, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, &ConfigError{Key: "configuration", Err: errEmptyConfig}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, &ConfigError{Key: "configuration", Err: fmt.Errorf("invalid JSON: %w", err)}
	}
	if top == nil {
		return nil, &ConfigError{Key: "configuration", Err: errNotObject}
	}
	cfg := &Config{FailureMode: FailClosed}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		switch k {
		case keyDirectivesMap, keyDefault, keyPerAuthority, keyMetricLabels, keyRules, keyFailureMode:
		default:
			cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("unknown configuration key %q ignored", k))
		}
	}
	var errs []error

	// setsKnown says whether references to directive sets can be checked: not when the map
	// itself is wrong, which would only repeat that mistake once per reference.
	setsKnown := true
	var rules []string
	if err := decode(top, keyDirectivesMap, &cfg.DirectiveSets); err != nil {
		errs, setsKnown = append(errs, err), false
	}
	if err := decode(top, keyRules, &rules); err != nil {
		errs, setsKnown = append(errs, err), false
	}
	switch {
	case len(cfg.DirectiveSets) == 0 && rules != nil:
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%q is deprecated: use %q and %q", keyRules, keyDirectivesMap, keyDefault))
		cfg.DirectiveSets = map[string][]string{deprecatedRulesName: rules}
		cfg.Default = deprecatedRulesName
	case rules != nil:
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%q is deprecated and ignored when %q is set", keyRules, keyDirectivesMap))
	}
	if len(cfg.DirectiveSets) == 0 && setsKnown {
		errs, setsKnown = append(errs, &ConfigError{Key: keyDirectivesMap, Err: errNoSets}), false
	}

	var def *string
	if err := decode(top, keyDefault, &def); err != nil {
		errs = append(errs, err)
	} else if def != nil {
		if _, ok := cfg.DirectiveSets[*def]; !ok && setsKnown {
			errs = append(errs, &ConfigError{Key: keyDefault, Err: fmt.Errorf("%q %w", *def, errUnknownSet)})
		}
		cfg.Default = *def
	}

	var perAuthority map[string]string
	if err := decode(top, keyPerAuthority, &perAuthority); err != nil {
		errs = append(errs, err)
	}
	cfg.Authorities = make(map[string]string, len(perAuthority))
	for _, a := range slices.Sorted(maps.Keys(perAuthority)) {
		set := perAuthority[a]
		if _, ok := cfg.DirectiveSets[set]; !ok && setsKnown {
			errs = append(errs, &ConfigError{Key: keyPerAuthority, Set: a, Err: fmt.Errorf("%q %w", set, errUnknownSet)})
		}
		pattern, err := authorityPattern(a)
		if err != nil {
			errs = append(errs, &ConfigError{Key: keyPerAuthority, Set: a, Err: err})
			continue
		}
		cfg.Authorities[pattern] = set
	}
	if cfg.Default == "" {
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("no %q: requests for authorities not in %q pass uninspected", keyDefault, keyPerAuthority))
	}

	if err := decode(top, keyMetricLabels, &cfg.MetricLabels); err != nil {
		errs = append(errs, err)
	}
	// Keys are sanitised into tag names: two keys with one tag name would emit one tag twice
	// in a metric name, and Envoy would extract only one of them.
	tagKeys := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(cfg.MetricLabels)) {
		tag := sanitizeTagKey(k)
		switch {
		case slices.Contains(reservedTags, tag):
			errs = append(errs, &ConfigError{Key: keyMetricLabels, Set: k, Err: fmt.Errorf("label %q %w", k, errReserved)})
		case tag == "":
			errs = append(errs, &ConfigError{Key: keyMetricLabels, Set: k, Err: errors.New("label name has no letter or digit")})
		case tagKeys[tag] != "":
			errs = append(errs, &ConfigError{Key: keyMetricLabels, Set: k,
				Err: fmt.Errorf("labels %q and %q both become the tag %q: rename one", tagKeys[tag], k, tag)})
		default:
			tagKeys[tag] = k
		}
	}
	// Istio's tag regex, "(key=\.=(.*?);\.;)", is not anchored: a tag whose name ends another
	// tag's name would be read out of that tag's pair too.
	for _, k := range slices.Sorted(maps.Keys(cfg.MetricLabels)) {
		tag := sanitizeTagKey(k)
		if tagKeys[tag] != k {
			continue // refused above
		}
		for _, other := range slices.Concat(reservedTags, slices.Sorted(maps.Keys(tagKeys))) {
			if other == tag || !(strings.HasSuffix(other, tag) || strings.HasSuffix(tag, other)) {
				continue
			}
			if _, user := tagKeys[other]; user && len(tag) > len(other) {
				continue // two labels of the user's: reported once, on the shorter
			}
			short, long := tag, other
			if len(short) > len(long) {
				short, long = long, short
			}
			errs = append(errs, &ConfigError{Key: keyMetricLabels, Set: k,
				Err: fmt.Errorf("the tag %q ends the tag %q, so Envoy's and Istio's tag extraction would read one out of the other: rename %q", short, long, k)})
			break
		}
	}
	var mode *string
	if err := decode(top, keyFailureMode, &mode); err != nil {
		errs = append(errs, err)
	} else if mode != nil {
		switch m := FailureMode(*mode); m {
		case FailClosed, FailOpen:
			cfg.FailureMode = m
		default:
			errs = append(errs, &ConfigError{Key: keyFailureMode, Err: fmt.Errorf("%q %w", *mode, errFailureMode)})
		}
	}
	if len(errs) > 0 {
		return nil, joinErrors(errs)
	}
	return cfg, nil
}

// joinErrors is the single error itself, or errors.Join of several; splitErrors splits them again.
func joinErrors(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// splitErrors returns the independent errors a configuration error is made of, one per line the
// plugin logs: the errors of an errors.Join, or err itself.
func splitErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// decode unmarshals top[key] into v when present, naming the key and the expected type on a
// mismatch.
func decode(top map[string]json.RawMessage, key string, v any) error {
	raw, ok := top[key]
	if !ok || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &ConfigError{Key: key, Err: fmt.Errorf("want %s, got a JSON %s: %w", expected(key), te.Value, err)}
		}
		return &ConfigError{Key: key, Err: err}
	}
	return nil
}

func expected(key string) string {
	switch key {
	case keyDirectivesMap:
		return "an object of directive-set name to list of directive strings"
	case keyDefault:
		return "a string naming a directive set"
	case keyPerAuthority:
		return "an object of authority to directive-set name"
	case keyMetricLabels:
		return "an object of string to string"
	case keyRules:
		return "a list of directive strings"
	case keyFailureMode:
		return fmt.Sprintf("the string %q or %q", FailClosed, FailOpen)
	}
	return "another type"
}
