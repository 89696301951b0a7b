package wasmhost

import (
	"errors"
	"testing"
)

func TestJoinVMErrors(t *testing.T) {
	refused := errors.New("proxy_on_configure returned false; plugin log:\nbad directive")
	trap := errors.New("trap")
	for _, tc := range []struct {
		name string
		errs []error
		want string
	}{
		{"none", []error{nil, nil}, ""},
		{"one VM", []error{nil, trap}, "VM 1: trap"},
		{"the same error on every VM, once", []error{refused, refused, errors.New(refused.Error())},
			"VMs 0, 1, 2: proxy_on_configure returned false; plugin log:\nbad directive"},
		{"distinct errors each once, in VM order", []error{trap, refused, trap},
			"VMs 0, 2: trap\nVM 1: proxy_on_configure returned false; plugin log:\nbad directive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := joinVMErrors(tc.errs)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %q, want %q", err, tc.want)
			}
			for _, e := range tc.errs {
				if e != nil && (e == trap || e == refused) && !errors.Is(err, e) {
					t.Errorf("errors.Is(%v) lost", e)
				}
			}
		})
	}
	if err := joinVMErrors([]error{refused, refused}); !errors.Is(err, refused) {
		t.Error("the joined error does not wrap the VMs' error")
	}
}
