package runner

import (
	"encoding/json"
	"io"
	"net/http"
)

// echoBodyLimit bounds the request body the echo server reads: it is a demo upstream, not a
// sink for uploads.
const echoBodyLimit = 10 << 20

// Echo is what the built-in upstream answers: the request as it arrived after the plugin.
type Echo struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
	Body    string              `json:"body"`
}

// EchoHandler is the built-in upstream: it answers 200 with the request (method, path, host,
// headers, body) as JSON, so a user sees what the WAF let through and how it changed it.
func EchoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, echoBodyLimit+1))
		if err != nil {
			http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > echoBodyLimit {
			http.Error(w, "request body over 10 MiB", http.StatusRequestEntityTooLarge)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(Echo{Method: r.Method, Path: r.RequestURI, Host: r.Host, Headers: r.Header, Body: string(body)})
	})
}
