// Package logmarker reads a WAF's log with go-ftw's marker protocol: the runner sends a request
// carrying a marker header before and after each stage, the WAF logs that header, and the lines
// between the two marker lines are the stage's log.
package logmarker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
)

// DefaultMaxLines is how many lines, from the end, are searched for a marker (go-ftw's
// maxmarkerloglines).
const DefaultMaxLines = 500

// Marker is a marker line found in the log.
type Marker struct {
	Line  []byte // lower-cased, without the newline
	Start int64  // offset of the line's first byte
	End   int64  // offset just past the line (and its newline, if any)
}

// Reader finds markers in, and cuts stage logs out of, one log file. It keeps the file open and
// re-reads its end on each call, so it sees what the WAF appended since. Not safe for concurrent
// use.
type Reader struct {
	f        *os.File
	header   []byte // lower-cased marker header name
	maxLines int
}

// Open opens the log at path. header is the marker header name (X-CRS-Test by default);
// maxLines <= 0 means DefaultMaxLines.
func Open(path, header string, maxLines int) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ftw/logmarker: %w", err)
	}
	if maxLines <= 0 {
		maxLines = DefaultMaxLines
	}
	return &Reader{f: f, header: bytes.ToLower([]byte(header)), maxLines: maxLines}, nil
}

// Close closes the log file.
func (r *Reader) Close() error { return r.f.Close() }

// ErrNotFound means the marker is not (yet) in the log.
var ErrNotFound = errors.New("marker not found")

// Find looks, from the end of the log back over at most maxLines lines, for the last line that
// contains the marker header name. As in go-ftw, that line must also contain id; if it holds
// another id (the WAF has not flushed ours yet) the result is ErrNotFound and the caller re-sends
// the marker. Matching is case-insensitive, as WAFs log header names in varying case.
func (r *Reader) Find(id string) (Marker, error) {
	idLower := bytes.ToLower([]byte(id))
	var found Marker
	err := r.scanBack(func(line []byte, start, end int64) bool {
		lower := bytes.ToLower(line)
		if !bytes.Contains(lower, r.header) {
			return true
		}
		found = Marker{Line: lower, Start: start, End: end}
		return false
	}, r.maxLines)
	if err != nil {
		return Marker{}, err
	}
	if found.Line == nil || !bytes.Contains(found.Line, idLower) {
		return Marker{}, fmt.Errorf("ftw/logmarker: %q: %w", id, ErrNotFound)
	}
	return found, nil
}

// Between returns the log lines after start and before end, without any line equal to either
// marker: a marker re-sent while waiting for a flush logs the same line again.
func (r *Reader) Between(start, end Marker) ([][]byte, error) {
	if end.Start < start.End {
		return nil, fmt.Errorf("ftw/logmarker: end marker at offset %d precedes start marker ending at %d", end.Start, start.End)
	}
	buf := make([]byte, end.Start-start.End)
	if _, err := r.f.ReadAt(buf, start.End); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("ftw/logmarker: %w", err)
	}
	var lines [][]byte
	for line := range bytes.SplitSeq(buf, []byte("\n")) {
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 {
			continue
		}
		lower := bytes.ToLower(line)
		if bytes.Equal(lower, start.Line) || bytes.Equal(lower, end.Line) {
			continue
		}
		lines = append(lines, line)
	}
	return lines, nil
}

// scanBack calls fn for each line from the end of the file backwards until fn returns false or
// limit lines were seen. A last line without newline (still being written) is included.
func (r *Reader) scanBack(fn func(line []byte, start, end int64) bool, limit int) error {
	size, err := r.f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("ftw/logmarker: %w", err)
	}
	if size == 0 {
		return nil
	}
	content, end := size, size // the current line is file[start:content], its newline included up to end
	last := make([]byte, 1)
	if _, err := r.f.ReadAt(last, size-1); err != nil {
		return fmt.Errorf("ftw/logmarker: %w", err)
	}
	if last[0] == '\n' {
		content--
	}
	const chunk = 4096
	pos := content
	var buf []byte // file[pos:content]
	for seen := 0; seen < limit; {
		i := bytes.LastIndexByte(buf, '\n')
		if i < 0 {
			if pos == 0 { // the file's first line
				fn(bytes.TrimSuffix(buf, []byte("\r")), 0, end)
				return nil
			}
			n := min(chunk, pos)
			pos -= n
			b := make([]byte, n, n+int64(len(buf)))
			if _, err := r.f.ReadAt(b, pos); err != nil {
				return fmt.Errorf("ftw/logmarker: %w", err)
			}
			buf = append(b, buf...)
			continue
		}
		start := pos + int64(i) + 1
		seen++
		if !fn(bytes.TrimSuffix(buf[i+1:], []byte("\r")), start, end) {
			return nil
		}
		end = start
		buf = buf[:i]
	}
	return nil
}

// The rule-id patterns of go-ftw: `[id "N"]` (Coraza/ModSecurity text logs, also with escaped
// quotes or as ["id":"N"]), falling back to JSON fields "id"/"ruleId".
var (
	stdIDPattern  = regexp.MustCompile(`\[(?:id |\\?"id\\?":)\\?"(\d+)\\?"\]`)
	jsonIDPattern = regexp.MustCompile(`(?:\{|,)\s*"(?:id|ruleId)":\s*"?(\d+)"?`)
)

// RuleIDs returns the sorted, distinct rule ids in lines. custom, if non-nil, replaces the
// built-in patterns (custom_log_id_regex); its first capture group is the id.
func RuleIDs(lines [][]byte, custom *regexp.Regexp) []uint {
	seen := map[uint]bool{}
	for _, line := range lines {
		var matches [][][]byte
		if custom != nil {
			matches = custom.FindAllSubmatch(line, -1)
		} else if matches = stdIDPattern.FindAllSubmatch(line, -1); matches == nil {
			matches = jsonIDPattern.FindAllSubmatch(line, -1)
		}
		for _, m := range matches {
			if len(m) < 2 {
				continue
			}
			if id, err := strconv.ParseUint(string(m[1]), 10, 0); err == nil {
				seen[uint(id)] = true
			}
		}
	}
	ids := make([]uint, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
