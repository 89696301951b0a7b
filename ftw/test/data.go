package test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"text/template"
)

// templateFuncs is the part of sprig's function map that FTW files use or plausibly use. go-ftw
// runs `data` through text/template with all of sprig; CRS v4.25.0 only uses `repeat` (920400).
// Argument orders follow sprig (`{{ "1" | repeat 3 }}` is repeat(3, "1")).
var templateFuncs = template.FuncMap{
	"repeat":  func(n int, s string) string { return strings.Repeat(s, n) },
	"upper":   strings.ToUpper,
	"lower":   strings.ToLower,
	"trim":    strings.TrimSpace,
	"b64enc":  func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
	"cat":     func(a ...string) string { return strings.Join(a, " ") },
	"replace": func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
}

// RenderData evaluates a `data` value as a Go text/template, as go-ftw does. Values without
// template actions come back unchanged.
func RenderData(data string) ([]byte, error) {
	if !strings.Contains(data, "{{") {
		return []byte(data), nil
	}
	t, err := template.New("data").Funcs(templateFuncs).Parse(data)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, nil); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	return b.Bytes(), nil
}

// Body returns the request body: the rendered `data`, else the decoded `encoded_data`, else nil.
func (in Input) Body() ([]byte, error) {
	if in.Data != nil {
		b, err := RenderData(*in.Data)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		return b, nil
	}
	if in.EncodedData != nil {
		b, err := base64.StdEncoding.DecodeString(*in.EncodedData)
		if err != nil {
			return nil, fmt.Errorf("encoded_data: %w", err)
		}
		return b, nil
	}
	return nil, nil
}

// Raw returns the decoded encoded_request (else the deprecated, literal raw_request), nil if
// neither is set. When set, it is the whole request and every other input field is ignored.
func (in Input) Raw() ([]byte, error) {
	if in.EncodedRequest == "" {
		if in.RawRequest != "" {
			return []byte(in.RawRequest), nil
		}
		return nil, nil
	}
	b, err := base64.StdEncoding.DecodeString(in.EncodedRequest)
	if err != nil {
		return nil, fmt.Errorf("encoded_request: %w", err)
	}
	return b, nil
}
