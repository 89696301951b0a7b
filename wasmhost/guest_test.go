package wasmhost_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/meshwaf/meshwaf/internal/wasmbuild"
	"github.com/meshwaf/meshwaf/internal/wasmtest"
	"github.com/meshwaf/meshwaf/wasmhost"
)

// The Go runtime in the guest sleeps through WASI poll_oneoff, which cpp-host #427 answers
// with ENOSYS (the build defines it in the module instead), and reaches the file system
// through WASI functions #427 lacks (the build stubs them with ENOSYS). Under both host
// profiles, a request whose callback sleeps, waits on timers and touches files must complete
// normally, each wait having lasted at least as long as asked and each file call an error
// (os.Stat reaches such a stub: ENOSYS; the others fail earlier, with no preopened directory).
func TestGuestSleepsAndTouchesFiles(t *testing.T) {
	testModule(t) // skips under -short
	path := wasmbuild.ForTest(t, wasmtest.TestPlugin)
	for _, profile := range []wasmhost.HostProfile{wasmhost.CppHost427, wasmhost.CppHost533} {
		t.Run(profile.String(), func(t *testing.T) {
			ctx := context.Background()
			m, err := wasmhost.CompileFile(ctx, path, wasmhost.WithHostProfile(profile))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = m.Close(ctx) })
			rec := &wasmtest.LogRecorder{}
			p, err := m.NewPlugin(ctx, wasmhost.WithLogger(rec.Log), wasmhost.WithLogLevel(wasmhost.LogTrace))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = p.Close(ctx) })

			s := newStream(t, p)
			st := mustStep(t, "sleep")(s.RequestHeaders(reqHeaders("sleep"), true))
			if st.Headers == nil || !st.EndOfStream {
				t.Fatalf("sleeping request not released: %+v (log %q)", st, rec.Lines())
			}
			if got, want := header(t, st.Headers, "x-abi-sleep"), "sleep:true,timer:true,after:true,goroutine:true"; got != want {
				t.Errorf("x-abi-sleep = %q, want %q (a wait shorter than asked)", got, want)
			}
			if ms, err := strconv.Atoi(header(t, st.Headers, "x-abi-slept")); err != nil || ms < 7 {
				t.Errorf("x-abi-slept = %d ms (%v), want at least the 7 ms asked", ms, err)
			}
			st = mustStep(t, "response")(s.ResponseHeaders(wasmhost.Headers{{":status", "200"}}, true))
			if st.Headers == nil || !st.EndOfStream {
				t.Fatalf("response after sleeping not released: %+v", st)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = newStream(t, p)
			st = mustStep(t, "fs")(s.RequestHeaders(reqHeaders("fs"), true))
			if st.Headers == nil || !st.EndOfStream {
				t.Fatalf("file-touching request not released: %+v (log %q)", st, rec.Lines())
			}
			if got, want := header(t, st.Headers, "x-abi-fs"), "readdir:error,stat:ENOSYS,readfile:error,create:error"; got != want {
				t.Errorf("x-abi-fs = %q, want %q", got, want)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if l, ok := rec.Find("VM failed"); ok {
				t.Errorf("VM failed: %s", l)
			}
		})
	}
}

// Each VM serves one stream at a time (Envoy: one VM per worker, whose calls never overlap),
// so with one VM a second stream waits for the first to close; with two it does not.
func TestStreamsWaitForAFreeVM(t *testing.T) {
	t.Run("one_vm_second_stream_waits", func(t *testing.T) {
		p, _ := newTestPlugin(t)
		s1 := newStream(t, p)
		mustStep(t, "first stream")(s1.RequestHeaders(reqHeaders(""), false))

		// While s1 is open, no VM is free: NewStream waits until its context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if s, err := p.NewStream(ctx, wasmhost.StreamInfo{}); !errors.Is(err, context.DeadlineExceeded) {
			if s != nil {
				s.Close()
			}
			t.Fatalf("NewStream with the only VM busy: %v, want it to wait until its context ends", err)
		}

		got := make(chan *wasmhost.Stream, 1)
		go func() {
			s, err := p.NewStream(context.Background(), wasmhost.StreamInfo{})
			if err != nil {
				t.Errorf("second stream: %v", err)
			}
			got <- s
		}()
		select {
		case s := <-got:
			if s != nil {
				s.Close()
			}
			t.Fatal("second stream started while the first held the only VM")
		case <-time.After(20 * time.Millisecond):
		}
		mustStep(t, "first stream body")(s1.RequestBody([]byte("x"), true))
		if err := s1.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case s2 := <-got:
			if s2 == nil {
				t.Fatal("no second stream")
			}
			defer s2.Close()
			if st := mustStep(t, "second stream")(s2.RequestHeaders(reqHeaders(""), true)); st.Headers == nil {
				t.Fatalf("second stream not served: %+v", st)
			}
		case <-time.After(deadline):
			t.Fatalf("second stream still waiting %v after the first closed", deadline)
		}
	})

	t.Run("two_vms_second_stream_does_not_wait", func(t *testing.T) {
		p, _ := newTestPlugin(t, wasmhost.WithVMs(2))
		s1 := newStream(t, p)
		mustStep(t, "first stream")(s1.RequestHeaders(reqHeaders(""), false))
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		s2, err := p.NewStream(ctx, wasmhost.StreamInfo{})
		if err != nil {
			t.Fatalf("second stream with a VM free: %v", err)
		}
		defer s2.Close()
		if st := mustStep(t, "second stream")(s2.RequestHeaders(reqHeaders(""), true)); st.Headers == nil {
			t.Fatalf("second stream not served: %+v", st)
		}
		if s1.ID() != s2.ID() {
			// Both are the first stream of their VM: the ids repeat across VMs.
			t.Errorf("stream ids %d and %d: want both streams to be their VM's first", s1.ID(), s2.ID())
		}
	})
}
