package ftw

import "testing"

// maxExceptions is the budget of tests skipped or with changed expectations.
const maxExceptions = 20

func TestConfig(t *testing.T) {
	c, err := Config()
	if err != nil {
		t.Fatal(err)
	}
	o, err := Overrides()
	if err != nil {
		t.Fatal(err)
	}
	rules := append(append(c.Ignore, c.ForcePass...), c.ForceFail...)
	for _, r := range rules {
		if r.Reason == "" {
			t.Errorf("%s: every override needs a reason", r.Pattern)
		}
	}
	n := len(rules)
	for _, to := range o.TestOverrides {
		if len(to.TestIDs) == 0 {
			t.Errorf("override of rule %d: name the tests (test_ids), so each exception is counted", to.RuleID)
		}
		n += len(to.TestIDs)
	}
	if n > maxExceptions {
		t.Errorf("%d tests ignored, forced or overridden, budget %d", n, maxExceptions)
	}
}
