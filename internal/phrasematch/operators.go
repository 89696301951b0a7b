package phrasematch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/corazawaf/coraza/v3/experimental/plugins"
	"github.com/corazawaf/coraza/v3/experimental/plugins/plugintypes"
)

// maxCaptures is how many matches a capturing rule gets in TX.0 to TX.9, as in stock Coraza.
const maxCaptures = 10

// Register replaces Coraza's @pm, @pmFromFile and @pmf with this package's operators for
// every WAF built afterwards in the process. @pmFromDataset stays stock (the CRS does not
// use it).
func Register() {
	plugins.RegisterOperator("pm", NewPM)
	plugins.RegisterOperator("pmFromFile", NewPMFromFile)
	plugins.RegisterOperator("pmf", NewPMFromFile)
}

// Operator is a @pm-family operator over one dictionary.
type Operator struct{ dict *Dictionary }

var _ plugintypes.Operator = (*Operator)(nil)

// Evaluate reports whether a phrase occurs in value. A capturing rule gets up to ten
// matches, in order, as stock Coraza captures them.
func (o *Operator) Evaluate(tx plugintypes.TransactionState, value string) bool {
	if !tx.Capturing() {
		return o.dict.Contains(value)
	}
	if len(value) < o.dict.MinLen() {
		return false
	}
	n := 0
	for from := 0; n < maxCaptures; n++ {
		start, end, ok := o.dict.Next(value, from)
		if !ok {
			break
		}
		tx.CaptureField(n, value[start:end])
		from = start + 1
	}
	return n > 0
}

// NewPM is the @pm operator factory, for a caller that registers it wrapped.
func NewPM(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	phrases := SplitArguments(o.Arguments)
	d, err := memoize(o.Memoizer, "phrasematch:pm:"+strings.Join(phrases, " "), func() (*Dictionary, error) {
		d, err := New(phrases)
		if err != nil {
			return nil, fmt.Errorf("@pm %q: %w (two spaces in a row, or a space at either end)", o.Arguments, err)
		}
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return &Operator{dict: d}, nil
}

// NewPMFromFile is the @pmFromFile (and @pmf) operator factory.
func NewPMFromFile(o plugintypes.OperatorOptions) (plugintypes.Operator, error) {
	name := strings.TrimSpace(o.Arguments)
	key := "phrasematch:file:" + strings.Join(o.Path, ",") + ":" + name
	d, err := memoize(o.Memoizer, key, func() (*Dictionary, error) {
		data, err := readDataFile(o.Root, o.Path, name)
		if err != nil {
			return nil, err
		}
		phrases, err := dataFilePhrases(data)
		if err != nil {
			return nil, fmt.Errorf("@pmFromFile %s: %w", name, err)
		}
		return New(phrases)
	})
	if err != nil {
		return nil, err
	}
	return &Operator{dict: d}, nil
}

// dataFilePhrases are a data file's lines, trimmed and lower-cased, without blank lines and
// # comments.
func dataFilePhrases(data []byte) ([]string, error) {
	var phrases []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1) // no line is too long: stock Coraza stops reading at 64 KiB
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l[0] == '#' {
			continue
		}
		phrases = append(phrases, strings.ToLower(l))
	}
	return phrases, sc.Err()
}

// readDataFile finds name as stock Coraza does: an absolute name in root, a relative one in
// the first of dirs (the directories of the rule files being read) that has it.
func readDataFile(root fs.FS, dirs []string, name string) ([]byte, error) {
	if root == nil {
		return nil, fmt.Errorf("@pmFromFile %s: no file system to read data files from", name)
	}
	if path.IsAbs(name) {
		return fs.ReadFile(root, name)
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("@pmFromFile %s: relative data file outside a rule file", name)
	}
	var err error
	for _, dir := range dirs {
		var data []byte
		data, err = fs.ReadFile(root, path.Join(dir, name))
		if err == nil {
			return data, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, err
}

func memoize(m plugintypes.Memoizer, key string, build func() (*Dictionary, error)) (*Dictionary, error) {
	if m == nil {
		return build()
	}
	v, err := m.Do(key, func() (any, error) { return build() })
	if err != nil {
		return nil, err
	}
	return v.(*Dictionary), nil
}
