// Package bench measures meshwaf's cost: the compiled plugin in the wazero host against
// native Coraza with the same directives, CRS load time, VM memory, module size and HTTP
// throughput through the local runner. `go run mage.go bench` runs it once and writes
// build/bench.json; the Go benchmarks (go test -bench . ./internal/bench) measure the corpus
// alone. docs/performance.md explains the figures.
package bench

import (
	"bytes"
	"fmt"
	"mime/multipart"
	"net/url"
	"strings"
)

// Directives is the directive set both sides load: the full CRS, blocking, as the README and
// the runner's default configure it.
var Directives = []string{
	"Include @recommended-conf",
	"SecRuleEngine On",
	"Include @crs-setup-conf",
	"Include @owasp_crs/*.conf",
}

// PluginConfig is the plugin configuration applying Directives to every authority.
func PluginConfig(directives []string) []byte {
	var b strings.Builder
	b.WriteString(`{"directives_map":{"crs":[`)
	for i, d := range directives {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", d)
	}
	b.WriteString(`]},"default_directives":"crs"}`)
	return []byte(b.String())
}

// Case is one request and the response the upstream gives it.
type Case struct {
	Name     string
	Method   string
	Path     string
	Headers  [][2]string // request headers, lower-case, without pseudo-headers
	Body     []byte
	RespType string // response content-type
	RespBody []byte
	// Blocked: the CRS must interrupt the request (403); both sides are checked for it.
	Blocked bool
}

const authority = "bench.example.com"

// Corpus is the fixed request mix: a fixed seed-free construction, so every run measures the
// same bytes.
func Corpus() []Case {
	small := []byte(`{"ok":true}`)
	common := [][2]string{
		{"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"},
		{"accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{"accept-language", "en-US,en;q=0.9"},
		{"accept-encoding", "gzip, deflate, br"},
	}
	with := func(extra ...[2]string) [][2]string { return append(append([][2]string(nil), common...), extra...) }

	q := url.Values{}
	for i := range 10 {
		q.Set(fmt.Sprintf("param%d", i), fmt.Sprintf("value-%d-%s", i, strings.Repeat("x", 8)))
	}
	form := url.Values{}
	for i := 0; len(form.Encode()) < 1024-40; i++ {
		form.Set(fmt.Sprintf("field%d", i), fmt.Sprintf("some ordinary text %d", i))
	}
	formBody := []byte(form.Encode())

	var jb strings.Builder
	jb.WriteString(`{"items":[`)
	for i := 0; jb.Len() < 10*1024-120; i++ {
		if i > 0 {
			jb.WriteByte(',')
		}
		fmt.Fprintf(&jb, `{"id":%d,"name":"item %d","tags":["a","b"],"price":%d.99,"active":true}`, i, i, i)
	}
	jb.WriteString(`],"total":1}`)

	mpBody, mpType := multipartUpload(50 * 1024)
	return []Case{
		{Name: "benign_get", Method: "GET", Path: "/index.html", Headers: with(), RespType: "application/json", RespBody: small},
		{Name: "get_10_args", Method: "GET", Path: "/search?" + q.Encode(), Headers: with(), RespType: "application/json", RespBody: small},
		{Name: "post_form_1k", Method: "POST", Path: "/form", Body: formBody,
			Headers: with([2]string{"content-type", "application/x-www-form-urlencoded"}), RespType: "application/json", RespBody: small},
		{Name: "post_json_10k", Method: "POST", Path: "/api/items", Body: []byte(jb.String()),
			Headers: with([2]string{"content-type", "application/json"}), RespType: "application/json", RespBody: small},
		{Name: "upload_multipart_50k", Method: "POST", Path: "/upload", Body: mpBody,
			Headers: with([2]string{"content-type", mpType}), RespType: "application/json", RespBody: small},
		{Name: "attack_sqli_query", Method: "GET", Path: "/items?id=" + url.QueryEscape("1' OR '1'='1' UNION SELECT username, password FROM users--"),
			Headers: with(), Blocked: true},
		{Name: "attack_xss_query", Method: "GET", Path: "/search?q=" + url.QueryEscape("<script>alert(document.cookie)</script>"),
			Headers: with(), Blocked: true},
		{Name: "attack_cmdi_form", Method: "POST", Path: "/form", Body: []byte("host=" + url.QueryEscape("127.0.0.1; cat /etc/passwd")),
			Headers: with([2]string{"content-type", "application/x-www-form-urlencoded"}), Blocked: true},
		{Name: "response_html_20k", Method: "GET", Path: "/page", Headers: with(), RespType: "text/html; charset=utf-8", RespBody: htmlPage(20 * 1024)},
	}
}

// FormBody is an urlencoded body of about n bytes of ordinary fields, for the body-cost sweep.
func FormBody(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte('&')
		}
		fmt.Fprintf(&b, "field%d=some+ordinary+text+%d", i, i)
	}
	return b.Bytes()
}

// FormCase is a POST of FormBody(n).
func FormCase(n int) Case {
	return Case{Name: fmt.Sprintf("post_form_%dk", n/1024), Method: "POST", Path: "/form", Body: FormBody(n),
		Headers:  [][2]string{{"content-type", "application/x-www-form-urlencoded"}, {"user-agent", "bench"}, {"accept", "*/*"}},
		RespType: "application/json", RespBody: []byte(`{"ok":true}`)}
}

func multipartUpload(size int) ([]byte, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.SetBoundary("----meshwafbenchboundary7MA4YWxkTrZu0gW")
	_ = w.WriteField("title", "quarterly report")
	_ = w.WriteField("description", "numbers for the third quarter")
	fw, _ := w.CreateFormFile("file", "report.csv")
	line := "2024-07-01,widgets,1234,56.78,north\n"
	for n := 0; n < size; n += len(line) {
		_, _ = fw.Write([]byte(line))
	}
	_ = w.Close()
	return b.Bytes(), w.FormDataContentType()
}

func htmlPage(size int) []byte {
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html><html><head><title>Catalogue</title></head><body><h1>Catalogue</h1><ul>\n")
	for i := 0; b.Len() < size-32; i++ {
		fmt.Fprintf(&b, "<li class=\"item\"><a href=\"/items/%d\">Item %d</a> in stock: %d</li>\n", i, i, i%7)
	}
	b.WriteString("</ul></body></html>\n")
	return b.Bytes()
}
