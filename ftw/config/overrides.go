package config

import (
	"fmt"
	"os"
	"slices"

	"github.com/goccy/go-yaml"

	"github.com/meshwaf/meshwaf/ftw/test"
)

// Overrides is a platform overrides file (go-ftw's --overrides, schema
// ftw-tests-schema/types/overrides): for chosen tests, an expected output that replaces the one
// in the test file, with the reason.
type Overrides struct {
	Version       string         `yaml:"version"`
	Meta          OverridesMeta  `yaml:"meta"`
	TestOverrides []TestOverride `yaml:"test_overrides"`
}

// OverridesMeta names the engine and platform the overrides are for.
type OverridesMeta struct {
	Engine      string            `yaml:"engine"`
	Platform    string            `yaml:"platform"`
	Annotations map[string]string `yaml:"annotations"`
}

// TestOverride replaces the expected output of stages of tests of one rule.
type TestOverride struct {
	RuleID uint `yaml:"rule_id"`
	// TestIDs selects the tests; empty means every test of the rule (as the schema documents).
	TestIDs []uint `yaml:"test_ids"`
	// StageIDs selects stages by 0-based index, as go-ftw counts them; empty means all.
	StageIDs  []uint      `yaml:"stage_ids"`
	Reason    string      `yaml:"reason"`
	RetryOnce *bool       `yaml:"retry_once"`
	Output    test.Output `yaml:"output"`
}

// LoadOverrides reads and validates a platform overrides file.
func LoadOverrides(path string) (*Overrides, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ftw/config: %w", err)
	}
	return ParseOverrides(path, data)
}

// ParseOverrides validates a platform overrides document; name is used in errors.
func ParseOverrides(name string, data []byte) (*Overrides, error) {
	var o Overrides
	if err := yaml.Unmarshal(data, &o); err != nil {
		return nil, yamlError(name, err)
	}
	for i := range o.TestOverrides {
		to := &o.TestOverrides[i]
		if to.RuleID == 0 {
			return nil, fmt.Errorf("ftw/config: %s: test_overrides[%d]: rule_id is required", name, i)
		}
		if to.Reason == "" {
			return nil, fmt.Errorf("ftw/config: %s: test_overrides[%d] (rule %d): reason is required", name, i, to.RuleID)
		}
		to.Output.Normalize()
		if err := (test.Stage{Output: to.Output}).Validate(); err != nil {
			return nil, fmt.Errorf("ftw/config: %s: test_overrides[%d] (rule %d): output: %w", name, i, to.RuleID, err)
		}
	}
	return &o, nil
}

// Apply returns t with the expected outputs of the overridden stages replaced, and the reasons
// of the overrides that applied. t itself is not modified.
func (o *Overrides) Apply(t test.Test) (test.Test, []string) {
	if o == nil {
		return t, nil
	}
	var reasons []string
	for _, to := range o.TestOverrides {
		if to.RuleID != t.RuleID || (len(to.TestIDs) > 0 && !slices.Contains(to.TestIDs, t.TestID)) {
			continue
		}
		applied := false
		for i := range t.Stages {
			if len(to.StageIDs) > 0 && !slices.Contains(to.StageIDs, uint(i)) {
				continue
			}
			if !applied {
				t.Stages = slices.Clone(t.Stages) // copy on first write
				applied = true
			}
			out := to.Output
			if to.RetryOnce != nil {
				out.RetryOnce = to.RetryOnce
			}
			t.Stages[i].Output = out
		}
		if applied {
			reasons = append(reasons, to.Reason)
		}
	}
	return t, reasons
}
