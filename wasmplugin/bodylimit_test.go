//go:build !wasip1

package wasmplugin_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// TestProcessPartialReleasesAfterLimit drives the compiled module chunk by chunk through
// SecRequestBodyLimitAction and SecResponseBodyLimitAction ProcessPartial: the body is held
// until the limit, the chunk that reaches it releases everything held so far (or gets the
// block, when the first N bytes hold an attack), and every later chunk goes on at its own
// call, not at the end of the stream. Bytes past the limit are never inspected: an attack
// there, or cut by the limit, passes.
func TestProcessPartialReleasesAfterLimit(t *testing.T) {
	const reqLimit, respLimit = 1000, 100
	p, _ := newPlugin(t, map[string]any{
		"directives_map": map[string][]string{
			"req": {"SecRuleEngine On", "SecRequestBodyAccess On", "SecRequestBodyLimit 1000", "SecRequestBodyLimitAction ProcessPartial",
				`SecRule REQUEST_BODY "@contains evil-body" "id:4001,phase:2,deny,status:403,log,msg:'evil body'"`},
			"resp": {"SecRuleEngine On", "SecResponseBodyAccess On", "SecResponseBodyMimeType text/html",
				"SecResponseBodyLimit 100", "SecResponseBodyLimitAction ProcessPartial",
				`SecRule RESPONSE_BODY "@contains SECRET-TOKEN" "id:6001,phase:4,deny,status:403,log,msg:'leaky body'"`},
		},
		"default_directives":       "req",
		"per_authority_directives": map[string]string{"resp.test": "resp"},
	})
	const reqAttack, respAttack = "evil-body", "SECRET-TOKEN"
	tests := []struct {
		name     string
		response bool
		body     []byte
		chunk    int
		blocked  bool
	}{
		{"request_chunks_after_limit_pass_at_once", false, bodyWith(3000, -1, ""), 512, false},
		{"request_limit_reached_exactly_then_chunks_pass_at_once", false, bodyWith(3000, -1, ""), 500, false},
		{"request_attack_in_first_chunk_blocked_at_limit", false, bodyWith(3000, 0, reqAttack), 512, true},
		{"request_attack_ending_at_limit_blocked", false, bodyWith(3000, reqLimit-len(reqAttack), reqAttack), 512, true},
		{"request_attack_ending_at_limit_reached_exactly_blocked", false, bodyWith(3000, reqLimit-len(reqAttack), reqAttack), 500, true},
		{"request_attack_cut_by_limit_passes", false, bodyWith(3000, reqLimit-len(reqAttack)+1, reqAttack), 512, false},
		{"request_attack_after_limit_passes", false, bodyWith(3000, 2000, reqAttack), 512, false},
		{"response_chunks_after_limit_pass_at_once", true, bodyWith(400, -1, ""), 30, false},
		{"response_limit_reached_exactly_then_chunks_pass_at_once", true, bodyWith(400, -1, ""), 50, false},
		{"response_attack_in_first_chunk_blocked_at_limit", true, bodyWith(400, 0, respAttack), 30, true},
		{"response_attack_ending_at_limit_blocked", true, bodyWith(400, respLimit-len(respAttack), respAttack), 30, true},
		{"response_attack_ending_at_limit_reached_exactly_blocked", true, bodyWith(400, respLimit-len(respAttack), respAttack), 50, true},
		{"response_attack_cut_by_limit_passes", true, bodyWith(400, respLimit-len(respAttack)+1, respAttack), 30, false},
		{"response_attack_after_limit_passes", true, bodyWith(400, 250, respAttack), 30, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := p.NewStream(context.Background(), wasmhost.StreamInfo{SourceAddress: "10.1.2.3:54321", DestinationAddress: "10.0.0.1:8080"})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			limit := reqLimit
			body := s.RequestBody
			if tc.response {
				limit, body = respLimit, s.ResponseBody
				st, err := s.RequestHeaders(wasmhost.Headers{{":method", "GET"}, {":path", "/"}, {":authority", "resp.test"}}, true)
				if err != nil || !st.EndOfStream {
					t.Fatalf("request not released: %+v, %v", st, err)
				}
				st, err = s.ResponseHeaders(wasmhost.Headers{{":status", "200"}, {"content-type", "text/html"}}, false)
				if err != nil || st.Headers != nil || st.Reply != nil {
					t.Fatalf("response headers not held for the body: %+v, %v", st, err)
				}
			} else {
				st, err := s.RequestHeaders(wasmhost.Headers{{":method", "POST"}, {":path", "/"}, {":authority", "app.test"},
					{"content-type", "application/x-www-form-urlencoded"}}, false)
				if err != nil || st.Headers != nil || st.Reply != nil {
					t.Fatalf("request headers not held for the body: %+v, %v", st, err)
				}
			}
			var released []byte
			reached := false // the limit was reached by an earlier chunk
			for off := 0; off < len(tc.body); off += tc.chunk {
				end := min(off+tc.chunk, len(tc.body))
				last := end == len(tc.body)
				st, err := body(tc.body[off:end], last)
				if err != nil {
					t.Fatal(err)
				}
				switch {
				case end < limit:
					if st.Headers != nil || st.Body != nil || st.Reply != nil || st.Reset {
						t.Fatalf("bytes %d-%d, before the limit: released %+v, want everything held", off, end, st)
					}
				case !reached && tc.blocked:
					if st.Reply == nil || st.Reply.Status != 403 {
						t.Fatalf("bytes %d-%d reach the limit: %+v, want the 403 of the attack in the first %d bytes", off, end, st, limit)
					}
					return
				case !reached:
					// The chunk that reaches the limit releases the headers and all held so far.
					if st.Reply != nil || st.Headers == nil || !bytes.Equal(st.Body, tc.body[:end]) || st.EndOfStream != last {
						t.Fatalf("bytes %d-%d reach the limit: released headers %t, %d body bytes, eos %t, reply %+v; want headers and the first %d bytes",
							off, end, st.Headers != nil, len(st.Body), st.EndOfStream, st.Reply, end)
					}
					reached = true
				default:
					if st.Reply != nil || st.Reset || !bytes.Equal(st.Body, tc.body[off:end]) || st.EndOfStream != last {
						t.Fatalf("bytes %d-%d, after the limit: released %d body bytes, eos %t, reply %+v; want this chunk at once",
							off, end, len(st.Body), st.EndOfStream, st.Reply)
					}
				}
				released = append(released, st.Body...)
			}
			if tc.blocked {
				t.Fatal("the attack in the first bytes was not blocked")
			}
			if !bytes.Equal(released, tc.body) {
				t.Fatalf("released %d bytes, want the body's %d", len(released), len(tc.body))
			}
		})
	}
}

// bodyWith is n bytes of "a" with s written at offset at (none when at < 0).
func bodyWith(n, at int, s string) []byte {
	b := bytes.Repeat([]byte("a"), n)
	if at >= 0 {
		copy(b[at:], s)
	}
	return b
}
