package wasmplugin

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// authorityPattern normalises a per_authority_directives key: hosts are case-insensitive, and
// "*" may only open a "*.suffix" wildcard.
func authorityPattern(a string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(a))
	if p == "" {
		return "", errors.New("empty authority")
	}
	rest := strings.TrimPrefix(p, "*.")
	if strings.Contains(rest, "*") || (rest != p && rest == "") {
		return "", fmt.Errorf("authority %q: a wildcard must have the form *.example.com", a)
	}
	return p, nil
}

// router picks the directive set of a request from its :authority. Built once from Config.
type router struct {
	exact map[string]string
	// wildcards are "*.suffix" entries stored as ".suffix", longest first so the most specific
	// wins.
	wildcards []wildcard
	def       string
}

type wildcard struct{ suffix, set string }

// defaultRoute is the route of requests that only the default set applies to.
const defaultRoute = "default"

func newRouter(cfg *Config) *router {
	r := &router{exact: map[string]string{}, def: cfg.Default}
	for p, set := range cfg.Authorities {
		if s, ok := strings.CutPrefix(p, "*"); ok {
			r.wildcards = append(r.wildcards, wildcard{suffix: s, set: set})
			continue
		}
		r.exact[p] = set
	}
	slices.SortFunc(r.wildcards, func(a, b wildcard) int {
		return cmp.Or(cmp.Compare(len(b.suffix), len(a.suffix)), strings.Compare(a.suffix, b.suffix))
	})
	return r
}

// route returns the set for authority: the exact authority, then the host without its port,
// then the longest matching wildcard, then the default. ok is false when none applies. entry
// is the per_authority_directives key that matched (normalised, "*.suffix" for a wildcard) or
// defaultRoute: a value from the configuration, never from the client, so that metrics
// labelled with it stay bounded however many Host values clients send.
func (r *router) route(authority string) (set, entry string, ok bool) {
	a := strings.ToLower(authority)
	if s, ok := r.exact[a]; ok {
		return s, a, true
	}
	host := hostOf(a)
	if s, ok := r.exact[host]; ok {
		return s, host, true
	}
	for _, w := range r.wildcards {
		if strings.HasSuffix(a, w.suffix) || strings.HasSuffix(host, w.suffix) {
			return w.set, "*" + w.suffix, true
		}
	}
	return r.def, defaultRoute, r.def != ""
}

// hostOf strips the port from an authority, minding IPv6 literals ("[::1]:8080").
func hostOf(authority string) string {
	i := strings.LastIndexByte(authority, ':')
	if i < 0 || strings.LastIndexByte(authority, ']') > i {
		return authority
	}
	if strings.HasPrefix(authority, "[") || strings.Count(authority, ":") == 1 {
		return authority[:i]
	}
	return authority // a bare IPv6 address has no port
}
