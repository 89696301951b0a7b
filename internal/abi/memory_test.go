package abi

import (
	"runtime"
	"testing"
	"time"
)

// The guest side of host→guest copies: a block made by proxy_on_memory_allocate must stay
// alive, untouched, until the guest code that made the host call takes it, and no block may
// outlive that call.

func TestAllocatedBlockSurvivesGCUntilTaken(t *testing.T) {
	clear(pending)
	addr := allocate(64)
	freed := make(chan struct{})
	runtime.SetFinalizer(&pending[addr][0], func(*byte) { close(freed) })
	copy(pending[addr], "written by the host")
	for range 3 {
		runtime.GC()
	}
	select {
	case <-freed:
		t.Fatal("a block handed to the host was freed before the guest took it")
	case <-time.After(50 * time.Millisecond):
	}
	ret.ptr, ret.size = addr, uint32(len("written by the host"))
	b, err := takeReturned()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "written by the host" {
		t.Fatalf("took %q", b)
	}
	if cap(b) != len(b) {
		t.Errorf("taken block has spare capacity %d: appending would write past what the host wrote", cap(b)-len(b))
	}
	if len(pending) != 0 || ret.ptr != 0 || ret.size != 0 {
		t.Errorf("after the take: %d pending blocks, ret %+v; want none and zero", len(pending), ret)
	}
}

func TestTakeReturnedRefusesForeignBlocks(t *testing.T) {
	clear(pending)
	addr := allocate(8)
	for _, tc := range []struct {
		name      string
		ptr, size uint32
	}{
		{"unknown address", addr + 1, 4},
		{"larger than the block", addr, 9},
	} {
		allocate(4) // a block of the same call that the host did not report: dropped too
		ret.ptr, ret.size = tc.ptr, tc.size
		if _, err := takeReturned(); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
		if len(pending) != 0 {
			t.Errorf("%s: %d blocks still pending after the failed take", tc.name, len(pending))
		}
		pending[addr] = make([]byte, 8)
	}
	clear(pending)
	ret.ptr, ret.size = 0, 0
	if b, err := takeReturned(); err != nil || b != nil {
		t.Errorf("nothing returned: got %q, %v; want nil, nil", b, err)
	}
}

func TestZeroSizeAllocationIsAddressable(t *testing.T) {
	clear(pending)
	addr := allocate(0)
	if addr == 0 || len(pending[addr]) != 1 {
		t.Fatalf("allocate(0) = %#x with %d bytes; want a real one-byte block", addr, len(pending[addr]))
	}
	clear(pending)
}

func TestPinnedDataReleasedAfterTheCall(t *testing.T) {
	data := []byte("guest data the host reads")
	if p := bytesPtr(data); p == nil {
		t.Fatal("bytesPtr of non-empty data is nil")
	}
	if p := stringPtr("a name"); p == nil {
		t.Fatal("stringPtr of a non-empty string is nil")
	}
	if bytesPtr(nil) != nil || stringPtr("") != nil {
		t.Error("empty data must be passed as a null pointer")
	}
	if len(pinned) != 2 {
		t.Fatalf("%d values pinned during the call, want 2", len(pinned))
	}
	unpin()
	if len(pinned) != 0 {
		t.Errorf("%d values still pinned after the call", len(pinned))
	}
}
