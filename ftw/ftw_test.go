package ftw

import "testing"

func TestConfig(t *testing.T) {
	c, err := Config()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range append(append(c.Ignore, c.ForcePass...), c.ForceFail...) {
		if r.Reason == "" {
			t.Errorf("%s: every override needs a reason", r.Pattern)
		}
	}
}
