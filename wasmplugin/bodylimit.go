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

// requestBodyLimits are the body limits a directive set ends up with.
type requestBodyLimits struct {
	limit int64
	// inMemory is the explicit SecRequestBodyInMemoryLimit, 0 when none is set.
	inMemory int64
	// response is SecResponseBodyLimit, for the log line of a response over it.
	response int64
}

// scanRequestBodyLimits follows a directive set and the files it includes, in order, and
// returns the last SecRequestBodyLimit, SecRequestBodyInMemoryLimit and SecResponseBodyLimit
// values.
//
// Why: Coraza keeps a request body in memory up to SecRequestBodyInMemoryLimit and spills the
// rest to a temporary file. A Wasm module has no file system, so past that limit Coraza fails
// the write and the request would get a 500, although SecRequestBodyLimit allows it. Coraza's
// own recommended configuration sets 128 KiB. The plugin therefore raises the in-memory limit
// to the body limit (what Coraza does by default when no in-memory limit is set) and says so.
func scanRequestBodyLimits(lines []string, root fs.FS) (requestBodyLimits, error) {
	l := requestBodyLimits{limit: corazaDefaultRequestBodyLimit, response: corazaDefaultResponseBodyLimit}
	return l, l.scan(lines, root, 0)
}

// maxIncludeDepth stops include cycles; Coraza refuses them too.
const maxIncludeDepth = 16

func (l *requestBodyLimits) scan(lines []string, root fs.FS, depth int) error {
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
				if err := l.scan(directiveLines(string(data)), root, depth+1); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// directiveLines splits a configuration file into directives, joining lines continued with a
// trailing backslash and dropping comments and blank lines.
func directiveLines(text string) []string {
	var out []string
	var cur strings.Builder
	for _, raw := range strings.Split(text, "\n") {
		line := strings.TrimSpace(raw)
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if strings.HasSuffix(line, "\\") {
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
