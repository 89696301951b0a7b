package wasmhost

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// MetricType is the kind of a plugin-defined metric.
type MetricType uint32

// Metric types as numbered by the ABI.
const (
	Counter   MetricType = 0
	Gauge     MetricType = 1
	Histogram MetricType = 2
)

func (t MetricType) String() string {
	switch t {
	case Counter:
		return "counter"
	case Gauge:
		return "gauge"
	case Histogram:
		return "histogram"
	}
	return fmt.Sprintf("MetricType(%d)", uint32(t))
}

// Metric is a snapshot of one plugin-defined metric.
type Metric struct {
	Name string
	Type MetricType
	// Value is the counter or gauge value; for a histogram, the sum of recorded values.
	Value int64
	// Count is the number of values recorded into a histogram.
	Count uint64
}

// Metrics is a snapshot of a plugin's metrics, sorted by name.
type Metrics []Metric

// Get returns the metric called name.
func (ms Metrics) Get(name string) (Metric, bool) {
	i := sort.Search(len(ms), func(i int) bool { return ms[i].Name >= name })
	if i < len(ms) && ms[i].Name == name {
		return ms[i], true
	}
	return Metric{}, false
}

// Map returns name → value (histograms: sum), the shape tests compare against.
func (ms Metrics) Map() map[string]int64 {
	out := make(map[string]int64, len(ms))
	for _, m := range ms {
		out[m.Name] = m.Value
	}
	return out
}

// WriteTo writes the metrics in Prometheus text format. Names are sanitised the way
// Envoy's Prometheus admin endpoint does (every character outside [a-zA-Z0-9_] becomes '_').
func (ms Metrics) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, m := range ms {
		name := promName(m.Name)
		switch m.Type {
		case Histogram:
			fmt.Fprintf(&b, "# TYPE %s summary\n%s_sum %d\n%s_count %d\n", name, name, m.Value, name, m.Count)
		default:
			fmt.Fprintf(&b, "# TYPE %s %s\n%s %d\n", name, m.Type, name, m.Value)
		}
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func promName(s string) string {
	var b strings.Builder
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9'
		if ok {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// metric is one stat, shared by every VM of a plugin: Envoy's stats are keyed by name in the
// store, so all workers defining "x" increment the same counter.
type metric struct {
	id    uint32
	name  string
	typ   MetricType
	value atomic.Int64
	count atomic.Uint64
}

// metricRegistry holds a plugin's metrics. Ids encode the type in the low two bits, like
// Envoy (kMetricTypeMask), so a type-mismatched call can be answered without a lookup.
type metricRegistry struct {
	mu     sync.Mutex
	byName map[string]*metric
	byID   map[uint32]*metric
	nextID uint32
}

func newMetricRegistry() *metricRegistry {
	return &metricRegistry{byName: map[string]*metric{}, byID: map[uint32]*metric{}}
}

// define returns the id for name; defining the same name again returns the same stat.
func (r *metricRegistry) define(typ MetricType, name string) (uint32, status) {
	if typ > Histogram {
		return 0, statusBadArgument
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.byName[name]; ok {
		if m.typ != typ {
			return 0, statusBadArgument
		}
		return m.id, statusOK
	}
	r.nextID++
	id := r.nextID<<2 | uint32(typ)
	m := &metric{id: id, name: name, typ: typ}
	r.byName[name] = m
	r.byID[id] = m
	return id, statusOK
}

func (r *metricRegistry) get(id uint32) *metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byID[id]
}

// increment follows Envoy's Context::incrementMetric: counters only go up (a non-positive
// offset is BadArgument), gauges move either way, histograms cannot be incremented.
func (r *metricRegistry) increment(id uint32, offset int64) status {
	m := r.get(id)
	if m == nil {
		return statusNotFound
	}
	switch m.typ {
	case Counter:
		if offset <= 0 {
			return statusBadArgument
		}
		m.value.Add(offset)
	case Gauge:
		m.value.Add(offset)
	default:
		return statusBadArgument
	}
	return statusOK
}

// record follows Envoy's Context::recordMetric: adds to a counter, sets a gauge, records a
// histogram value.
func (r *metricRegistry) record(id uint32, v uint64) status {
	m := r.get(id)
	if m == nil {
		return statusNotFound
	}
	switch m.typ {
	case Counter:
		m.value.Add(int64(v))
	case Gauge:
		m.value.Store(int64(v))
	case Histogram:
		m.value.Add(int64(v))
		m.count.Add(1)
	}
	return statusOK
}

// value follows Envoy's Context::getMetric: histograms have no readable value.
func (r *metricRegistry) value(id uint32) (uint64, status) {
	m := r.get(id)
	if m == nil {
		return 0, statusNotFound
	}
	if m.typ == Histogram {
		return 0, statusBadArgument
	}
	return uint64(m.value.Load()), statusOK
}

func (r *metricRegistry) snapshot() Metrics {
	r.mu.Lock()
	out := make(Metrics, 0, len(r.byName))
	for _, m := range r.byName {
		out = append(out, Metric{Name: m.name, Type: m.typ, Value: m.value.Load(), Count: m.count.Load()})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
