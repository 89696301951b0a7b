package rules

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
)

func TestIncludeNamesResolve(t *testing.T) {
	for _, name := range []string{
		"@recommended-conf", "@demo-conf", "@ftw-conf", "@crs-setup-conf", "@crs-setup-demo-conf",
		"@owasp_crs/REQUEST-942-APPLICATION-ATTACK-SQLI.conf", "@owasp_crs/scanners-user-agents.data",
		"@coraza.conf-recommended", "./@demo-conf",
	} {
		t.Run(name, func(t *testing.T) {
			data, err := fs.ReadFile(FS(), name)
			if err != nil {
				t.Fatalf("reading %s: %v", name, err)
			}
			if len(data) == 0 {
				t.Fatalf("%s is empty", name)
			}
		})
	}
}

func TestGlobsSeeCRSAndOwnNames(t *testing.T) {
	tests := []struct {
		pattern string
		want    string
		min     int
	}{
		{"@owasp_crs/*.conf", "@owasp_crs/REQUEST-901-INITIALIZATION.conf", 20},
		{"@owasp_crs/REQUEST-9*.conf", "@owasp_crs/REQUEST-949-BLOCKING-EVALUATION.conf", 15},
		{"@*-conf", "@ftw-conf", 5},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			got, err := fs.Glob(FS(), tc.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) < tc.min || !slices.Contains(got, tc.want) {
				t.Fatalf("glob %s = %v, want at least %d names including %s", tc.pattern, got, tc.min, tc.want)
			}
		})
	}
}

func TestMissingIncludeIsNotExist(t *testing.T) {
	if _, err := fs.ReadFile(FS(), "@no-such-conf"); err == nil {
		t.Fatal("reading a missing include succeeded")
	}
}

func TestDeprecatedNames(t *testing.T) {
	if r, ok := Deprecated("@crs-setup-demo-conf"); !ok || r != "@crs-setup-conf" {
		t.Fatalf("Deprecated(@crs-setup-demo-conf) = %q, %t", r, ok)
	}
	if _, ok := Deprecated("@demo-conf"); ok {
		t.Fatal("@demo-conf reported deprecated")
	}
}

func TestFTWConfHasMarkerRule(t *testing.T) {
	data, err := fs.ReadFile(FS(), "@ftw-conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`REQUEST_HEADERS:X-CRS-Test`, `id:999999`, `ctl:ruleRemoveById=1-999999`,
		`tx.blocking_paranoia_level=4`, `tx.arg_length=400`, `tx.total_arg_length=64000`,
		`tx.arg_name_length=100`, `tx.max_num_args=255`,
		`tx.max_file_size=64100`, `tx.combined_file_sizes=65535`, `tx.crs_validate_utf8_encoding=1`,
		`ctl:ruleRemoveById=910000`, `application/json`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("@ftw-conf lacks %s", want)
		}
	}
}
