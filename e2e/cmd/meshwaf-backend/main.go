// Command meshwaf-backend serves the albedo-compatible backend (ftw/backend) on its own: the
// upstream of docker-compose.yaml and of an FTW run through Envoy.
//
//	go run ./cmd/meshwaf-backend --listen 127.0.0.1:8000
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/meshwaf/meshwaf/ftw/backend"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8000", "`address` to serve on")
	flag.Parse()
	s, err := backend.Start(*listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("meshwaf-backend: albedo-compatible backend on http://%s\n", s.Addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
