package runner

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEchoHandler(t *testing.T) {
	req := httptest.NewRequest("PUT", "/items/7?x=1", strings.NewReader(`{"name":"n"}`))
	req.Host = "example.com"
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	rec := httptest.NewRecorder()
	EchoHandler().ServeHTTP(rec, req)

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("content-type = %q", ct)
	}
	var got Echo
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatalf("response is not JSON: %v\n%s", err, rec.Body)
	}
	if got.Method != "PUT" || got.Path != "/items/7?x=1" || got.Host != "example.com" || got.Body != `{"name":"n"}` {
		t.Errorf("echo = %+v", got)
	}
	if m := got.Headers["X-Multi"]; len(m) != 2 || m[0] != "a" || m[1] != "b" {
		t.Errorf("repeated header echoed as %q, want [a b] in order", m)
	}
}

func TestEchoHandlerBodyLimit(t *testing.T) {
	req := httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", echoBodyLimit+1)))
	rec := httptest.NewRecorder()
	EchoHandler().ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", rec.Code)
	}
}
