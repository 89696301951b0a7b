package wasmplugin

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/types"

	"github.com/meshwaf/meshwaf/internal/abi"
	"github.com/meshwaf/meshwaf/internal/engine"
)

// The plugin's WAFs use meshwaf's operators and actions (internal/engine): registered before
// any directive set compiles.
func init() { engine.Register() }

// wafs holds one Coraza WAF per directive set: each set is compiled once and shared by every
// authority that names it.
type wafs map[string]*wafSet

// wafSet is the WAF of one directive set and the body limits it was compiled with, which
// Coraza does not expose and the plugin names when a body goes over one.
type wafSet struct {
	coraza.WAF
	name   string
	limits directiveFacts
}

// buildOptions are what a WAF needs besides its directives.
type buildOptions struct {
	root         fs.FS
	sink         logSink
	onMatch      func(types.MatchedRule)
	deprecatedFn func(include string) (replacement string, deprecated bool)
	// requestBodyInMemory, when set, overrides the set's SecRequestBodyInMemoryLimit (see
	// scanDirectives).
	requestBodyInMemory int64
	// prelude are directives compiled before the set's own lines (missingDefaultActions).
	prelude []string
}

// buildWAFs compiles every directive set of cfg. A set that fails does not stop the others:
// every failure is returned, joined, each a *ConfigError naming the set, the line and the
// directive, so that one validation run shows every mistake. Warnings are for deprecated
// includes.
func buildWAFs(cfg *Config, opts buildOptions) (wafs, []string, error) {
	out := wafs{}
	var warnings []string
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(cfg.DirectiveSets)) {
		ws, w, err := buildWAF(name, cfg.DirectiveSets[name], opts)
		warnings = append(warnings, w...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out[name] = ws
	}
	if len(errs) > 0 {
		return nil, warnings, joinErrors(errs)
	}
	return out, warnings, nil
}

// buildWAF compiles one directive set.
func buildWAF(name string, lines []string, opts buildOptions) (*wafSet, []string, error) {
	warnings, err := checkIncludes(name, lines, opts)
	if err != nil {
		return nil, warnings, err
	}
	if err := checkDebugLog(name, lines); err != nil {
		return nil, warnings, err
	}
	limits, err := scanDirectives(lines, opts.root)
	if err != nil {
		return nil, warnings, &ConfigError{Key: keyDirectivesMap, Set: name, Err: fmt.Errorf("reading the set's includes: %w", err)}
	}
	setOpts := opts
	setOpts.requestBodyInMemory = limits.limit
	if setOpts.prelude = limits.missingDefaultActions(); len(setOpts.prelude) > 0 && opts.sink != nil {
		opts.sink(abi.LogLevelInfo, fmt.Sprintf("meshwaf: %s[%q]: no SecDefaultAction for phases 3-5 given; using ModSecurity's default so response-phase matches are logged: %s",
			keyDirectivesMap, name, strings.Join(setOpts.prelude, "; ")))
	}
	if limits.inMemory != 0 && limits.inMemory < limits.limit && opts.sink != nil {
		opts.sink(abi.LogLevelInfo, fmt.Sprintf("meshwaf: %s[%q]: SecRequestBodyInMemoryLimit %d raised to SecRequestBodyLimit %d: a Wasm module has no file system to spill larger bodies to",
			keyDirectivesMap, name, limits.inMemory, limits.limit))
	}
	waf, err := newWAF(name, lines, setOpts)
	if err != nil {
		return nil, warnings, err
	}
	return &wafSet{WAF: waf, name: name, limits: limits}, warnings, nil
}

var errIncludeMissing = errors.New("not found in the embedded rules")

var errNoFileSystem = errors.New("a Wasm module has no file system: use SecDebugLog /dev/stdout or /dev/stderr (either way the debug log goes to the proxy log)")

// checkDebugLog refuses a SecDebugLog naming a file before Coraza tries to open it, which in
// Wasm fails with a bare "Bad file number".
func checkDebugLog(set string, lines []string) error {
	for i, line := range lines {
		fields := strings.Fields(line)
		if len(fields) < 2 || !strings.EqualFold(fields[0], "SecDebugLog") {
			continue
		}
		switch target := strings.Trim(fields[1], `"'`); target {
		case "/dev/stdout", "/dev/stderr":
		default:
			return &ConfigError{Key: keyDirectivesMap, Set: set, Line: i + 1, Directive: fields[0],
				Err: fmt.Errorf("%s: %w", target, errNoFileSystem)}
		}
	}
	return nil
}

// checkIncludes verifies each Include of a set names something in the root file system before
// Coraza runs: Coraza only warns about a glob matching nothing, which would silently leave a
// WAF without CRS.
func checkIncludes(set string, lines []string, opts buildOptions) (warnings []string, err error) {
	for i, line := range lines {
		dir, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		if !strings.EqualFold(dir, "include") {
			continue
		}
		target := strings.Trim(strings.TrimSpace(arg), `"`)
		cerr := &ConfigError{Key: keyDirectivesMap, Set: set, Line: i + 1, Directive: "Include " + target}
		if strings.Contains(target, "*") {
			matches, gerr := fs.Glob(opts.root, target)
			if gerr != nil {
				cerr.Err = fmt.Errorf("bad pattern: %w", gerr)
				return warnings, cerr
			}
			if len(matches) == 0 {
				cerr.Err = fmt.Errorf("pattern matches nothing: %w", errIncludeMissing)
				return warnings, cerr
			}
			continue
		}
		if _, serr := fs.Stat(opts.root, target); serr != nil {
			if _, rerr := fs.ReadFile(opts.root, target); rerr != nil {
				cerr.Err = fmt.Errorf("%w (%w)", errIncludeMissing, rerr)
				return warnings, cerr
			}
		}
		if opts.deprecatedFn != nil {
			if repl, ok := opts.deprecatedFn(target); ok {
				warnings = append(warnings, fmt.Sprintf("%s[%q] line %d: include %s is deprecated, use %s", keyDirectivesMap, set, i+1, target, repl))
			}
		}
	}
	return warnings, nil
}

// newWAF compiles one directive set. Coraza's errors do not say which of our lines failed, so
// on failure the set's prefixes are compiled again, halving the range each time, to find the
// first failing line: a cost paid only when the configuration is wrong.
func newWAF(set string, lines []string, opts buildOptions) (coraza.WAF, error) {
	waf, err := coraza.NewWAF(wafConfig(set, lines, opts))
	if err == nil {
		return waf, nil
	}
	// Invariant: lines[:lo] compiles (lo = 0 trivially), lines[:hi] fails.
	lo, hi, firstErr := 0, len(lines), err
	quiet := opts
	quiet.sink = func(abi.LogLevel, string) {}
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if _, err := coraza.NewWAF(wafConfig(set, lines[:mid], quiet)); err != nil {
			hi, firstErr = mid, err
		} else {
			lo = mid
		}
	}
	if hi == 0 {
		return nil, &ConfigError{Key: keyDirectivesMap, Set: set, Err: err}
	}
	return nil, &ConfigError{Key: keyDirectivesMap, Set: set, Line: hi, Directive: directiveName(lines[hi-1]), Err: firstErr}
}

func wafConfig(set string, lines []string, opts buildOptions) coraza.WAFConfig {
	c := coraza.NewWAFConfig().
		WithRootFS(opts.root).
		WithDebugLogger(newDebugLogger(opts.sink, fmt.Sprintf("coraza[%s]: ", set)))
	if opts.onMatch != nil {
		c = c.WithErrorCallback(opts.onMatch)
	}
	for _, l := range opts.prelude {
		c = c.WithDirectives(l)
	}
	for _, l := range lines {
		c = c.WithDirectives(l)
	}
	if opts.requestBodyInMemory > 0 {
		// Applied by Coraza after the directives, so it wins over any SecRequestBodyInMemoryLimit.
		c = c.WithRequestBodyInMemoryLimit(int(opts.requestBodyInMemory))
	}
	return c
}

// directiveName is the first word of a directive line, as the user spelled it.
func directiveName(line string) string {
	d, _, _ := strings.Cut(strings.TrimSpace(line), " ")
	return d
}
