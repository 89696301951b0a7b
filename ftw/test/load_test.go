package test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// The CRS v4.25.0 suite as shipped by coraza-coreruleset: counted with this loader and
// cross-checked by grepping the module's files (318 .yaml files in 24 folders, one of them empty).
const (
	embeddedFiles   = 318
	embeddedFolders = 24
	embeddedTests   = 4674
	embeddedStages  = 4680
)

func TestEmbeddedSuiteCounts(t *testing.T) {
	files, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	folders := map[string]bool{}
	names := map[string]string{}
	tests, stages := 0, 0
	for _, f := range files {
		folders[strings.SplitN(f.Path, "/", 2)[0]] = true
		for _, tc := range f.Tests {
			tests++
			stages += len(tc.Stages)
			if prev, dup := names[tc.Name()]; dup {
				t.Errorf("duplicate test name %s in %s and %s", tc.Name(), prev, tc.Location())
			}
			names[tc.Name()] = tc.Location()
			if tc.Line == 0 {
				t.Errorf("%s: no line number", tc.Name())
			}
		}
	}
	if len(files) != embeddedFiles || len(folders) != embeddedFolders || tests != embeddedTests || stages != embeddedStages {
		t.Fatalf("got %d files in %d folders, %d tests, %d stages; want %d, %d, %d, %d",
			len(files), len(folders), tests, stages, embeddedFiles, embeddedFolders, embeddedTests, embeddedStages)
	}
}

func TestEmbeddedSuiteSpecialCases(t *testing.T) {
	files, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Test{}
	for _, f := range files {
		for _, tc := range f.Tests {
			byName[tc.Name()] = tc
		}
	}
	multi := []string{}
	for name, tc := range byName {
		if len(tc.Stages) > 1 {
			multi = append(multi, name)
		}
	}
	if len(multi) != 2 || byName["934120-43"].Stages == nil || len(byName["942340-8"].Stages) < 2 {
		t.Errorf("multi-stage tests = %v, want 934120-43 and 942340-8", multi)
	}
	// 920430-5 sends an empty version; the explicit "" must survive loading.
	in := byName["920430-5"].Stages[0].Input
	if in.Version == nil || in.GetVersion() != "" || !byName["920430-5"].Stages[0].Output.ExpectsError() {
		t.Errorf("920430-5: version %v expect_error %v", in.Version, byName["920430-5"].Stages[0].Output.ExpectError)
	}
	// 920400 renders {{ "1" | repeat N }}.
	found := false
	for name, tc := range byName {
		if !strings.HasPrefix(name, "920400-") || tc.Stages[0].Input.Data == nil || !strings.Contains(*tc.Stages[0].Input.Data, "repeat") {
			continue
		}
		body, err := tc.Stages[0].Input.Body()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), strings.Repeat("1", 100)) || strings.Contains(string(body), "{{") {
			t.Errorf("%s: rendered data %q...", name, body[:min(len(body), 40)])
		}
		found = true
	}
	if !found {
		t.Error("no 920400 test with a repeat template")
	}
}

func TestParse(t *testing.T) {
	fsys := fstest.MapFS{
		"a/123456.yaml": {Data: []byte(`---
meta:
  author: me
tests:
  - desc: first, no test_id
    stages:
      - input:
          version: ""
          stop_magic: true
        output:
          log_contains: 'id "1"'
          no_log_contains: 'id "2"'
  - test_id: 7
    unknown_key: ignored
    stages:
      - input: {autocomplete_headers: true, stop_magic: true}
        output: {status: 403}
`)},
		"a/empty.yaml": {Data: []byte("")},
	}
	files, err := LoadFS(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || len(files[0].Tests) != 2 || len(files[1].Tests) != 0 {
		t.Fatalf("files = %+v", files)
	}
	t1, t2 := files[0].Tests[0], files[0].Tests[1]
	if t1.Name() != "123456-1" || t2.Name() != "123456-7" || t1.Line != 5 || t2.Line != 13 {
		t.Errorf("names/lines = %s@%d %s@%d", t1.Name(), t1.Line, t2.Name(), t2.Line)
	}
	s := t1.Stages[0]
	if s.Input.Autocomplete() || s.Input.GetVersion() != "" || s.Input.GetMethod() != "GET" || s.Input.GetPort() != 80 {
		t.Errorf("input defaults wrong: %+v", s.Input)
	}
	if s.Output.Log.MatchRegex != `id "1"` || s.Output.Log.NoMatchRegex != `id "2"` {
		t.Errorf("deprecated log_contains not mapped: %+v", s.Output.Log)
	}
	if !t2.Stages[0].Input.Autocomplete() {
		t.Error("autocomplete_headers must win over stop_magic")
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"syntax", "rule_id: 1\ntests:\n  - stages: [\n", "bad.yaml line "},
		{"type", "rule_id: 1\ntests:\n  - test_id: 1\n    stages:\n      - output:\n          status: [200]\n", "bad.yaml line 6"},
		{"bad_regex", "rule_id: 1\ntests:\n  - test_id: 3\n    stages:\n      - output:\n          log:\n            match_regex: '('\n", "bad.yaml line 3: test 1-3 stage 1: log.match_regex"},
		{"isolated", "rule_id: 1\ntests:\n  - stages:\n      - output:\n          isolated: true\n", "bad.yaml line 3: test 1-1 stage 1: 'isolated'"},
		{"data_and_encoded", "rule_id: 1\ntests:\n  - stages:\n      - input: {data: x, encoded_request: eA==}\n", "'data' and 'encoded_request'"},
		{"no_rule_id", "tests: []\n", "no rule_id"},
		{"bad_template", "rule_id: 1\ntests:\n  - stages:\n      - input: {data: '{{ nope }}'}\n", "data: template"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("dir/bad.yaml", []byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			var le *LoadError
			if !errors.As(err, &le) || le.File != "dir/bad.yaml" {
				t.Errorf("err %T does not carry the file", err)
			}
		})
	}
}
