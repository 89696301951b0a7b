package wasmplugin

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// Coraza's SecRequestBodyLimit and SecResponseBodyLimit when no directive sets them.
const (
	corazaDefaultRequestBodyLimit  = 134217728
	corazaDefaultResponseBodyLimit = 524288
)

// directiveFacts are what the plugin must know of a directive set, with its includes, before
// Coraza compiles it: the body limits it ends up with and the phases it gives default actions.
type directiveFacts struct {
	// defaultActionPhases holds the phases (1-5) a SecDefaultAction is given for.
	defaultActionPhases map[int]bool
	limit               int64
	// inMemory is the explicit SecRequestBodyInMemoryLimit, 0 when none is set.
	inMemory int64
	// response is SecResponseBodyLimit, for the log line of a response over it.
	response int64
}

// scanDirectives follows a directive set and the files it includes, in order, and
// returns the last SecRequestBodyLimit, SecRequestBodyInMemoryLimit and SecResponseBodyLimit
// values.
//
// Why: Coraza keeps a request body in memory up to SecRequestBodyInMemoryLimit and spills the
// rest to a temporary file. A Wasm module has no file system, so past that limit Coraza fails
// the write and the request would get a 500, although SecRequestBodyLimit allows it. Coraza's
// own recommended configuration sets 128 KiB. The plugin therefore raises the in-memory limit
// to the body limit (what Coraza does by default when no in-memory limit is set) and says so.
//
// SecDefaultAction phases are collected for missingDefaultActions.
func scanDirectives(lines []string, root fs.FS) (directiveFacts, error) {
	l := directiveFacts{limit: corazaDefaultRequestBodyLimit, response: corazaDefaultResponseBodyLimit, defaultActionPhases: map[int]bool{}}
	return l, l.scan(lines, root, 0)
}

// maxIncludeDepth stops include cycles; Coraza refuses them too.
const maxIncludeDepth = 16

func (l *directiveFacts) scan(lines []string, root fs.FS, depth int) error {
	if depth > maxIncludeDepth {
		return fmt.Errorf("includes nested deeper than %d", maxIncludeDepth)
	}
	for _, line := range lines {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		arg := strings.Trim(fields[1], `"'`)
		switch strings.ToLower(fields[0]) {
		case "secrequestbodylimit":
			if n, err := strconv.ParseInt(arg, 10, 64); err == nil {
				l.limit = n
			}
		case "secdefaultaction":
			if p := actionPhase(strings.Trim(strings.TrimSpace(line[len(fields[0]):]), `"'`)); p != 0 {
				l.defaultActionPhases[p] = true
			}
		case "secrequestbodyinmemorylimit":
			if n, err := strconv.ParseInt(arg, 10, 64); err == nil {
				l.inMemory = n
			}
		case "secresponsebodylimit":
			if n, err := strconv.ParseInt(arg, 10, 64); err == nil {
				l.response = n
			}
		case "include":
			files := []string{arg}
			if strings.ContainsAny(arg, "*?[") {
				var err error
				if files, err = fs.Glob(root, arg); err != nil {
					return err
				}
			}
			for _, f := range files {
				data, err := fs.ReadFile(root, f)
				if err != nil {
					return err
				}
				if err := l.scan(directiveLines(string(data), scanned), root, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// directiveLines splits a configuration file into directives, joining lines continued with a
// trailing backslash and dropping comments and blank lines. Only directives whose name keep
// accepts are returned (and joined): a CRS file is mostly long SecRules the scan ignores, and
// this runs at every VM's start.
func directiveLines(text string, keep func(name string) bool) []string {
	var out []string
	var cur strings.Builder
	continued, kept := false, false
	for raw := range strings.Lines(text) {
		line := strings.TrimSpace(raw)
		if !continued {
			if line == "" || line[0] == '#' {
				continue
			}
			name, _, _ := strings.Cut(line, " ")
			name, _, _ = strings.Cut(name, "\t")
			name = strings.TrimSuffix(name, "\\")
			// A first line of only a backslash names nothing yet: keep the directive whole.
			kept = name == "" || keep(name)
		}
		continued = strings.HasSuffix(line, "\\")
		if !kept {
			continue
		}
		if continued {
			cur.WriteString(strings.TrimSuffix(line, "\\"))
			cur.WriteByte(' ')
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// scanned reports whether scan reads a directive of this name.
func scanned(name string) bool {
	for _, n := range [...]string{"SecRequestBodyLimit", "SecDefaultAction", "SecRequestBodyInMemoryLimit", "SecResponseBodyLimit", "Include"} {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// phaseNames are the names seclang accepts for phases besides their numbers.
var phaseNames = map[string]int{"request": 2, "response": 4, "logging": 5}

// actionPhase returns the phase an action list names (phase:N or phase:name), 0 if none.
func actionPhase(actions string) int {
	for _, a := range strings.Split(actions, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(a), ":")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "phase") {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `'"`)
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 5 {
			return n
		}
		return phaseNames[strings.ToLower(v)]
	}
	return 0
}

// missingDefaultActions returns, for phases 3 to 5 without a SecDefaultAction, the one
// ModSecurity applies to every phase: log,auditlog,pass.
//
// Why: Coraza applies that built-in default to phase 2 only, so in a set that gives none for
// the response phases (CRS's own setup defines phases 1 and 2 only) the CRS response rules
// match and block without a single log line saying which rule did or why. Coraza refuses a
// second SecDefaultAction for a phase, so these are only added where the set has none.
func (l directiveFacts) missingDefaultActions() []string {
	var out []string
	for p := 3; p <= 5; p++ {
		if !l.defaultActionPhases[p] {
			out = append(out, fmt.Sprintf(`SecDefaultAction "phase:%d,log,auditlog,pass"`, p))
		}
	}
	return out
}
