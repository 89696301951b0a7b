package test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/corazawaf/coraza-coreruleset/v4/tests"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Embedded loads the CRS regression suite shipped in coraza-coreruleset, the same version as the
// rules meshwaf embeds, so rules and tests cannot drift apart.
func Embedded() ([]File, error) { return LoadFS(tests.FS, ".") }

// LoadDir loads every .yaml/.yml file under dir (e.g. tests/regression/tests of a CRS checkout).
func LoadDir(dir string) ([]File, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("ftw/test: %w", err)
	}
	return LoadFS(os.DirFS(dir), ".")
}

// LoadFS loads every .yaml/.yml file under root in fsys, in lexical path order so runs are
// reproducible. The first malformed file stops loading; its error names the file and line.
func LoadFS(fsys fs.FS, root string) ([]File, error) {
	var paths []string
	err := fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ftw/test: listing %s: %w", root, err)
	}
	slices.Sort(paths)
	files := make([]File, 0, len(paths))
	for _, p := range paths {
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, fmt.Errorf("ftw/test: %w", err)
		}
		f, err := Parse(p, data)
		if err != nil {
			return nil, err
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("ftw/test: no .yaml test files under %s", root)
	}
	return files, nil
}

var firstDigits = regexp.MustCompile(`\d+`)

// Parse decodes one test file. name is used for rule_id inference (the first digits of the file
// name, as go-ftw does) and in error messages. An empty file yields a File without tests.
func Parse(name string, data []byte) (File, error) {
	f := File{Path: name}
	doc, err := parser.ParseBytes(data, 0)
	if err != nil {
		return f, yamlError(name, err)
	}
	if len(doc.Docs) == 0 || doc.Docs[0].Body == nil {
		return f, nil
	}
	body := doc.Docs[0].Body
	if err := yaml.NodeToValue(body, &f); err != nil {
		return f, yamlError(name, err)
	}
	f.Path = name
	if f.RuleID == 0 {
		digits := firstDigits.FindString(path.Base(name))
		id, err := strconv.ParseUint(digits, 10, 0)
		if err != nil || id == 0 {
			return f, &LoadError{File: name, Err: errors.New("no rule_id and no digits in the file name")}
		}
		f.RuleID = uint(id)
	}
	lines := testLines(body)
	for i := range f.Tests {
		t := &f.Tests[i]
		t.RuleID = f.RuleID
		if t.TestID == 0 {
			t.TestID = uint(i + 1) // go-ftw: absent test_id is the 1-based position
		}
		t.File = name
		if i < len(lines) {
			t.Line = lines[i]
		}
		if len(t.Stages) == 0 {
			return f, &LoadError{File: name, Line: t.Line, Err: fmt.Errorf("test %s has no stages", t.Name())}
		}
		for j := range t.Stages {
			s := &t.Stages[j]
			s.Output.Normalize()
			if err := s.Validate(); err != nil {
				return f, &LoadError{File: name, Line: t.Line, Err: fmt.Errorf("test %s stage %d: %w", t.Name(), j+1, err)}
			}
		}
	}
	return f, nil
}

// testLines returns the line of each entry of the top-level `tests` sequence.
func testLines(body ast.Node) []int {
	m, ok := body.(*ast.MappingNode)
	if !ok {
		return nil
	}
	for _, kv := range m.Values {
		if kv.Key.String() != "tests" {
			continue
		}
		seq, ok := kv.Value.(*ast.SequenceNode)
		if !ok {
			return nil
		}
		lines := make([]int, len(seq.Values))
		for i, v := range seq.Values {
			if tok := v.GetToken(); tok != nil {
				lines[i] = tok.Position.Line
			}
		}
		return lines
	}
	return nil
}

// LoadError says which file, and where known which line, a loading problem is on.
type LoadError struct {
	File string
	Line int // 0 when unknown
	Msg  string
	Err  error
}

func (e *LoadError) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = e.Err.Error()
	}
	if e.Line > 0 {
		return fmt.Sprintf("ftw/test: %s line %d: %s", e.File, e.Line, msg)
	}
	return fmt.Sprintf("ftw/test: %s: %s", e.File, msg)
}

func (e *LoadError) Unwrap() error { return e.Err }

// yamlError names the file and line of a go-yaml error, without the source excerpt go-yaml's
// Error() prints.
func yamlError(name string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tok := ye.GetToken(); tok != nil {
			return &LoadError{File: name, Line: tok.Position.Line, Msg: ye.GetMessage(), Err: err}
		}
	}
	return &LoadError{File: name, Err: err}
}
