// Package rules is the file system every Include of a meshwaf configuration is read from: our
// own configuration files under the include names users of the Coraza proxy-wasm filter write
// (@recommended-conf, @demo-conf, @crs-setup-conf, @ftw-conf), over OWASP CRS as the
// coraza-coreruleset module embeds it (@owasp_crs/*.conf, @crs-setup.conf.example,
// @coraza.conf-recommended). Coraza reads it through WithRootFS, so includes work under the
// no_fs_access build tag, where a Wasm module has no file system at all.
package rules

import (
	"embed"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
)

//go:embed *.conf
var own embed.FS

// alias is where an include name of ours is read from.
type alias struct {
	fsys fs.FS
	path string
	// replacement names the include to use instead, for a deprecated name.
	replacement string
}

func aliases() map[string]alias {
	return map[string]alias{
		"@recommended-conf": {fsys: own, path: "recommended.conf"},
		"@demo-conf":        {fsys: own, path: "demo.conf"},
		"@ftw-conf":         {fsys: own, path: "ftw.conf"},
		// CRS's example setup is a sound default; users copy it when they need to change it.
		"@crs-setup-conf": {fsys: coreruleset.FS, path: "@crs-setup.conf.example"},
		// The Coraza filter's demo variant of the setup; CRS's own setup replaces it.
		"@crs-setup-demo-conf": {fsys: coreruleset.FS, path: "@crs-setup.conf.example", replacement: "@crs-setup-conf"},
	}
}

// root is built once: the file system is immutable and shared by every WAF of the VM.
var root = newOverlay(aliases(), coreruleset.FS)

// FS returns the root file system for coraza.WAFConfig.WithRootFS.
func FS() fs.FS { return root }

// Deprecated reports whether include name is deprecated, and the name to use instead.
func Deprecated(name string) (replacement string, deprecated bool) {
	a, ok := root.aliases[name]
	if !ok || a.replacement == "" {
		return "", false
	}
	return a.replacement, true
}

// Names lists the include names of our own files, sorted.
func Names() []string {
	names := make([]string, 0, len(root.aliases))
	for n := range root.aliases {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// overlay serves the aliases by name and everything else from base.
type overlay struct {
	aliases map[string]alias
	base    fs.FS
}

var (
	_ fs.ReadFileFS = (*overlay)(nil)
	_ fs.ReadDirFS  = (*overlay)(nil)
)

func newOverlay(aliases map[string]alias, base fs.FS) *overlay {
	return &overlay{aliases: aliases, base: base}
}

// clean undoes the "./" Coraza's parser may put in front of a name it joined to a directory.
func clean(name string) string { return strings.TrimPrefix(name, "./") }

func (o *overlay) Open(name string) (fs.File, error) {
	name = clean(name)
	if a, ok := o.aliases[name]; ok {
		return a.fsys.Open(a.path)
	}
	return o.base.Open(name)
}

func (o *overlay) ReadFile(name string) ([]byte, error) {
	name = clean(name)
	if a, ok := o.aliases[name]; ok {
		return fs.ReadFile(a.fsys, a.path)
	}
	return fs.ReadFile(o.base, name)
}

// ReadDir lists base's entries, and at the root the aliases too, so globs such as "@*-conf"
// see every include name.
func (o *overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	name = clean(name)
	entries, err := fs.ReadDir(o.base, name)
	if err != nil || name != "." {
		return entries, err
	}
	for n, a := range o.aliases {
		info, err := fs.Stat(a.fsys, a.path)
		if err != nil {
			return nil, errors.Join(fs.ErrNotExist, err)
		}
		entries = append(entries, aliasEntry{name: n, info: info})
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// aliasEntry is a directory entry shown under its include name.
type aliasEntry struct {
	name string
	info fs.FileInfo
}

func (e aliasEntry) Name() string               { return e.name }
func (e aliasEntry) IsDir() bool                { return false }
func (e aliasEntry) Type() fs.FileMode          { return 0 }
func (e aliasEntry) Info() (fs.FileInfo, error) { return aliasInfo{e}, nil }

type aliasInfo struct{ e aliasEntry }

func (i aliasInfo) Name() string       { return i.e.name }
func (i aliasInfo) Size() int64        { return i.e.info.Size() }
func (i aliasInfo) Mode() fs.FileMode  { return i.e.info.Mode() }
func (i aliasInfo) ModTime() time.Time { return i.e.info.ModTime() }
func (i aliasInfo) IsDir() bool        { return false }
func (i aliasInfo) Sys() any           { return nil }
