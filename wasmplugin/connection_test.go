//go:build !wasip1

package wasmplugin_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/meshwaf/meshwaf/wasmhost"
)

// connectionVars are the variables the plugin fills from the stream's properties
// (source.address/port, destination.address/port, request.protocol) and from its :authority.
// Each rule logs the value it saw in its msg, so a test reads exactly what reached Coraza.
var connectionVars = []string{
	"REMOTE_ADDR", "REMOTE_PORT", "SERVER_ADDR", "SERVER_PORT", "SERVER_NAME",
	"REQUEST_PROTOCOL", "REQUEST_LINE", "REQUEST_HEADERS:Host",
}

// TestConnectionReachesCoraza drives the compiled module: what Envoy knows of the connection
// (addresses and ports, IPv4 and IPv6, the HTTP version) and the :authority become the
// variables rules match on.
func TestConnectionReachesCoraza(t *testing.T) {
	set := []string{"SecRuleEngine On"}
	for i, v := range connectionVars {
		set = append(set, fmt.Sprintf(`SecRule %s "@unconditionalMatch" "id:%d,phase:1,pass,log,msg:'%s=%%{MATCHED_VAR}'"`, v, 100+i, v))
	}
	p, logs := newPlugin(t, oneSet(set...))
	tests := []struct {
		name string
		req  request
		want map[string]string
	}{
		{"ipv4_http11", request{path: "/cart?id=7", authority: "shop.test:8080",
			conn: wasmhost.StreamInfo{SourceAddress: "192.0.2.10:54321", DestinationAddress: "10.0.0.1:8080", Protocol: "HTTP/1.1"}},
			map[string]string{"REMOTE_ADDR": "192.0.2.10", "REMOTE_PORT": "54321", "SERVER_ADDR": "10.0.0.1", "SERVER_PORT": "8080",
				"SERVER_NAME": "shop.test", "REQUEST_PROTOCOL": "HTTP/1.1", "REQUEST_LINE": "GET /cart?id=7 HTTP/1.1",
				"REQUEST_HEADERS:Host": "shop.test:8080"}},
		{"ipv6_http2", request{method: "POST", path: "/api/v1/items", authority: "[2001:db8::1]:8443", body: []byte("a=1"),
			conn: wasmhost.StreamInfo{SourceAddress: "[2001:db8:0:1::7]:61000", DestinationAddress: "[2001:db8::1]:8443", Protocol: "HTTP/2"}},
			map[string]string{"REMOTE_ADDR": "2001:db8:0:1::7", "REMOTE_PORT": "61000", "SERVER_ADDR": "2001:db8::1", "SERVER_PORT": "8443",
				// The host part of a Host holding an IPv6 literal keeps its brackets, as in a URI.
				"SERVER_NAME": "[2001:db8::1]", "REQUEST_PROTOCOL": "HTTP/2", "REQUEST_LINE": "POST /api/v1/items HTTP/2",
				"REQUEST_HEADERS:Host": "[2001:db8::1]:8443"}},
		{"ipv4_http10_portless_host", request{path: "/", authority: "legacy.test",
			conn: wasmhost.StreamInfo{SourceAddress: "198.51.100.5:1024", DestinationAddress: "10.0.0.2:80", Protocol: "HTTP/1.0"}},
			map[string]string{"REMOTE_ADDR": "198.51.100.5", "REMOTE_PORT": "1024", "SERVER_ADDR": "10.0.0.2", "SERVER_PORT": "80",
				"SERVER_NAME": "legacy.test", "REQUEST_PROTOCOL": "HTTP/1.0", "REQUEST_LINE": "GET / HTTP/1.0",
				"REQUEST_HEADERS:Host": "legacy.test"}},
		{"ipv6_loopback_http3", request{path: "/q?x=1", authority: "h3.test",
			conn: wasmhost.StreamInfo{SourceAddress: "[::1]:443", DestinationAddress: "[::1]:10443", Protocol: "HTTP/3"}},
			map[string]string{"REMOTE_ADDR": "::1", "REMOTE_PORT": "443", "SERVER_ADDR": "::1", "SERVER_PORT": "10443",
				"SERVER_NAME": "h3.test", "REQUEST_PROTOCOL": "HTTP/3", "REQUEST_LINE": "GET /q?x=1 HTTP/3",
				"REQUEST_HEADERS:Host": "h3.test"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			wantStatus(t, drive(t, p, tc.req), 200)
			for _, v := range connectionVars {
				prefix := `[msg "` + v + `=`
				var got []string
				for _, l := range logs.Lines() {
					if _, rest, ok := strings.Cut(l, prefix); ok {
						val, _, _ := strings.Cut(rest, `"]`)
						got = append(got, val)
					}
				}
				if len(got) != 1 || got[0] != tc.want[v] {
					t.Errorf("%s = %q, want [%q]", v, got, tc.want[v])
				}
			}
		})
	}
}
