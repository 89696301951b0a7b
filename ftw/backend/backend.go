// Package backend is an albedo-compatible upstream for the FTW suite (github.com/coreruleset/albedo
// is not served by the Go module proxy). The CRS response-side tests ask it, through
// POST /reflect, for the response the WAF must then inspect.
package backend

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Reflect is the body of POST /reflect.
type Reflect struct {
	Status      int               `json:"status"`
	Headers     map[string]string `json:"headers"`
	Body        string            `json:"body"`
	EncodedBody string            `json:"encodedBody"`
	LogMessage  string            `json:"logMessage"`
}

// Handler answers like albedo: 200 with an empty body on any path and method, POST /reflect
// answers with the response described in its JSON body, GET /capabilities lists the endpoints.
type Handler struct {
	// Logger receives reflect's logMessage; nil discards it.
	Logger *slog.Logger
}

var _ http.Handler = Handler{}

// capabilities is albedo's self-description of its endpoints.
var capabilities = map[string]any{
	"endpoints": []map[string]string{
		{"path": "/capabilities", "methods": "GET", "contentType": "application/json", "description": "Describes the capabilities of this server."},
		{"path": "/reflect", "methods": "POST", "contentType": "application/json", "description": "Answers with the status, headers and body described in the request's JSON body: {\"status\", \"headers\", \"body\", \"encodedBody\", \"logMessage\"}."},
		{"path": "/*", "methods": "any", "contentType": "any", "description": "Answers 200 with an empty body."},
	},
}

func (h Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/reflect" && r.Method == http.MethodPost:
		h.reflect(w, r)
	case r.URL.Path == "/capabilities" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(capabilities)
	default:
		// Drain the body so the WAF in front sees a normal exchange; albedo ignores it too.
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}
}

func (h Handler) reflect(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var spec Reflect
	if err := json.Unmarshal(body, &spec); err != nil {
		http.Error(w, "invalid reflect JSON: "+err.Error(), http.StatusBadRequest)
		return
	}
	if spec.Status == 0 {
		spec.Status = http.StatusOK
	}
	if spec.Status < 100 || spec.Status >= 600 {
		http.Error(w, fmt.Sprintf("invalid status code %d", spec.Status), http.StatusBadRequest)
		return
	}
	out := []byte(spec.Body)
	if spec.Body == "" && spec.EncodedBody != "" {
		if out, err = base64.StdEncoding.DecodeString(spec.EncodedBody); err != nil {
			http.Error(w, "invalid encodedBody: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	if spec.LogMessage != "" && h.Logger != nil {
		h.Logger.Info(spec.LogMessage, "path", r.URL.Path)
	}
	for k, v := range spec.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(spec.Status)
	_, _ = w.Write(out)
}

// Server is a running backend.
type Server struct {
	Addr string // the address it listens on, with the real port when ":0" was asked for
	srv  *http.Server
	done chan error
}

// Start listens on addr (":0" picks a free port) and serves Handler until Close.
func Start(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ftw/backend: %w", err)
	}
	s := &Server{
		Addr: ln.Addr().String(),
		srv:  &http.Server{Handler: Handler{}, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the server, waiting briefly for requests in flight.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serveErr := <-s.done; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}
