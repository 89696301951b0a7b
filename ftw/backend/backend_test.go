package backend

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	cases := []struct {
		name, method, path, body string
		status                   int
		wantBody                 string
		wantHeader               [2]string
	}{
		{name: "root_get", method: "GET", path: "/", status: 200},
		{name: "unknown_path_any_method", method: "DELETE", path: "/no/such/thing?x=1", body: "ignored", status: 200},
		{name: "marker_status_200", method: "GET", path: "/status/200", status: 200},
		{name: "reflect_get_is_default", method: "GET", path: "/reflect", status: 200},
		{name: "reflect_full", method: "POST", path: "/reflect", body: `{"status":302,"headers":{"Location":"/x","X-A":"b"},"body":"moved","logMessage":"m"}`,
			status: 302, wantBody: "moved", wantHeader: [2]string{"Location", "/x"}},
		{name: "reflect_default_status", method: "POST", path: "/reflect", body: `{"body":"<?php eval($x); ?>"}`, status: 200, wantBody: "<?php eval($x); ?>"},
		{name: "reflect_encoded_body", method: "POST", path: "/reflect", body: `{"encodedBody":"AAFiaW4="}`, status: 200, wantBody: "\x00\x01bin"},
		{name: "reflect_body_wins", method: "POST", path: "/reflect", body: `{"body":"plain","encodedBody":"AAFiaW4="}`, status: 200, wantBody: "plain"},
		{name: "reflect_status_below_100", method: "POST", path: "/reflect", body: `{"status":99}`, status: 400},
		{name: "reflect_status_600", method: "POST", path: "/reflect", body: `{"status":600}`, status: 400},
		{name: "reflect_bad_json", method: "POST", path: "/reflect", body: `{"status":`, status: 400},
		{name: "reflect_bad_base64", method: "POST", path: "/reflect", body: `{"encodedBody":"!!"}`, status: 400},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Handler{}.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, strings.NewReader(c.body)))
			if rec.Code != c.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, c.status, rec.Body)
			}
			if c.status != 400 && rec.Body.String() != c.wantBody {
				t.Errorf("body %q, want %q", rec.Body, c.wantBody)
			}
			if c.wantHeader[0] != "" && rec.Header().Get(c.wantHeader[0]) != c.wantHeader[1] {
				t.Errorf("header %s = %q", c.wantHeader[0], rec.Header().Get(c.wantHeader[0]))
			}
		})
	}
}

func TestCapabilities(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler{}.ServeHTTP(rec, httptest.NewRequest("GET", "/capabilities", nil))
	var got struct {
		Endpoints []struct{ Path string } `json:"endpoints"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got.Endpoints) != 3 || got.Endpoints[1].Path != "/reflect" {
		t.Fatalf("capabilities %s (%v)", rec.Body, err)
	}
}

func TestStart(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+s.Addr+"/reflect", "application/json", strings.NewReader(`{"status":418,"body":"teapot"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 418 || string(b) != "teapot" {
		t.Errorf("got %d %q", resp.StatusCode, b)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
