package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// Client sends requests, one connection each. The zero value uses the default timeouts.
type Client struct {
	// ConnectTimeout bounds dialing (default 3s, as go-ftw).
	ConnectTimeout time.Duration
	// ReadTimeout bounds the whole response read (default 10s: the WAF may be a wasm module
	// compiling rules on its first request).
	ReadTimeout time.Duration
}

// Response is a parsed response plus the raw bytes it was parsed from.
type Response struct {
	// Raw is everything read: status line, headers and body (chunk framing included), so
	// response_contains can match anywhere in it, as go-ftw matches the full response.
	Raw        []byte
	Proto      string
	StatusCode int
	Status     string // the reason phrase
	Header     http.Header
	Body       []byte // de-chunked
}

// Do dials network address addr ("host:port"), over TLS when useTLS (certificates are not
// verified: test targets use self-signed ones), writes the request bytes and reads the response.
// Any failure to connect, write or read a response head is returned as an error, which is what
// expect_error tests look for.
func (c Client) Do(ctx context.Context, addr string, useTLS bool, request []byte) (*Response, error) {
	connectTimeout, readTimeout := c.ConnectTimeout, c.ReadTimeout
	if connectTimeout <= 0 {
		connectTimeout = 3 * time.Second
	}
	if readTimeout <= 0 {
		readTimeout = 10 * time.Second
	}
	d := net.Dialer{Timeout: connectTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ftw/client: connect %s: %w", addr, err)
	}
	defer conn.Close()
	if useTLS {
		host, _, _ := net.SplitHostPort(addr)
		tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true}) //nolint:gosec // test targets
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("ftw/client: TLS handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	deadline := time.Now().Add(readTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("ftw/client: %w", err)
	}
	if _, err := conn.Write(request); err != nil {
		return nil, fmt.Errorf("ftw/client: write to %s: %w", addr, err)
	}
	resp, err := ReadResponse(bufio.NewReader(conn), methodOf(request))
	if err != nil {
		return resp, fmt.Errorf("ftw/client: read from %s: %w", addr, err)
	}
	return resp, nil
}

// methodOf returns the request's method, which decides whether a response has a body (HEAD).
func methodOf(request []byte) string {
	m, _, _ := bytes.Cut(request, []byte(" "))
	return string(m)
}

// ErrMalformedResponse is returned when the bytes read are not an HTTP/1.x response.
var ErrMalformedResponse = errors.New("malformed response")

// ReadResponse reads one response: the status line, headers, and a body delimited by chunked
// transfer coding, Content-Length, or the connection's end. Interim 1xx responses (other than
// 101) are read and kept in Raw, and the final response follows. On a body error the response
// read so far is returned with the error.
func ReadResponse(br *bufio.Reader, method string) (*Response, error) {
	var raw bytes.Buffer
	tee := bufio.NewReader(io.TeeReader(br, &raw))
	for {
		resp, err := readHead(tee)
		if err != nil {
			return nil, err
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != 101 {
			continue
		}
		err = readBody(tee, resp, method)
		// The tee'd reader may have buffered bytes beyond the response; Raw keeps only what the
		// response consumed, which is exactly what was read through tee minus its buffer.
		resp.Raw = raw.Bytes()[:raw.Len()-tee.Buffered()]
		return resp, err
	}
}

func readHead(r *bufio.Reader) (*Response, error) {
	tp := textproto.NewReader(r)
	line, err := tp.ReadLine()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("no response: %w", io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	proto, rest, _ := strings.Cut(line, " ")
	codeStr, reason, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeStr)
	if !strings.HasPrefix(proto, "HTTP/") || err != nil || len(codeStr) != 3 {
		return nil, fmt.Errorf("%w: status line %q", ErrMalformedResponse, truncate(line, 80))
	}
	resp := &Response{Proto: proto, StatusCode: code, Status: reason, Header: http.Header{}}
	for {
		l, err := tp.ReadContinuedLine()
		if err != nil {
			return nil, fmt.Errorf("reading headers: %w", err)
		}
		if l == "" {
			return resp, nil
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue // tolerate junk header lines, as the judging only needs status and bytes
		}
		resp.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
}

func readBody(r *bufio.Reader, resp *Response, method string) error {
	if method == http.MethodHead || resp.StatusCode == 204 || resp.StatusCode == 304 || resp.StatusCode == 101 {
		return nil
	}
	if strings.EqualFold(lastToken(resp.Header.Get("Transfer-Encoding")), "chunked") {
		return readChunked(r, resp)
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(cl), 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: Content-Length %q", ErrMalformedResponse, cl)
		}
		resp.Body = make([]byte, n)
		if _, err := io.ReadFull(r, resp.Body); err != nil {
			return fmt.Errorf("reading %d-byte body: %w", n, err)
		}
		return nil
	}
	b, err := io.ReadAll(r) // delimited by the connection's end
	resp.Body = b
	return err
}

func readChunked(r *bufio.Reader, resp *Response) error {
	tp := textproto.NewReader(r)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return fmt.Errorf("reading chunk size: %w", err)
		}
		sizeStr, _, _ := strings.Cut(line, ";")
		size, err := strconv.ParseInt(strings.TrimSpace(sizeStr), 16, 64)
		if err != nil || size < 0 {
			return fmt.Errorf("%w: chunk size %q", ErrMalformedResponse, line)
		}
		if size == 0 {
			for { // trailers up to the empty line
				l, err := tp.ReadLine()
				if err != nil || l == "" {
					return nil // a missing final CRLF is tolerated
				}
			}
		}
		chunk := make([]byte, size)
		if _, err := io.ReadFull(r, chunk); err != nil {
			return fmt.Errorf("reading chunk: %w", err)
		}
		resp.Body = append(resp.Body, chunk...)
		if _, err := tp.ReadLine(); err != nil {
			return fmt.Errorf("reading chunk end: %w", err)
		}
	}
}

func lastToken(s string) string {
	if i := strings.LastIndex(s, ","); i >= 0 {
		s = s[i+1:]
	}
	return strings.TrimSpace(s)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
