package wasmhost

import (
	"bufio"
	"net/http"
	"strings"
	"testing"
)

func TestRequestHeadersKeepTransferEncoding(t *testing.T) {
	raw := "GET / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nHi \r\n0\r\n\r\n"
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := requestHeaders(r).Get("transfer-encoding"); !ok || v != "chunked" {
		t.Errorf("transfer-encoding = %q, %v; want chunked, as Envoy's codec passes it to filters", v, ok)
	}
	if _, ok := r.Header["Transfer-Encoding"]; ok {
		t.Error("requestHeaders modified the request's header")
	}
}
