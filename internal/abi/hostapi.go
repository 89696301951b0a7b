package abi

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"
)

// Log writes msg to the host's log at level.
func Log(level LogLevel, msg string) {
	proxyLog(level, stringPtr(msg), uint32(len(msg)))
	unpin()
}

// Logf formats and logs at level.
func Logf(level LogLevel, format string, args ...any) {
	Log(level, fmt.Sprintf(format, args...))
}

// HostLogLevel is the lowest level the host will print; logging below it is wasted work.
func HostLogLevel() (LogLevel, error) {
	if err := statusError(proxyGetLogLevel(retPtr())); err != nil {
		return LogLevelTrace, err
	}
	l := LogLevel(ret.ptr)
	ret.ptr = 0
	return l, nil
}

// Now is the host's wall clock.
func Now() (time.Time, error) {
	if err := statusError(proxyGetCurrentTimeNanoseconds(retPtr())); err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, int64(retU64())), nil
}

// SetTickPeriod asks the host to call OnTick on the current plugin every d (0 stops it).
func SetTickPeriod(d time.Duration) error {
	return statusError(proxySetTickPeriodMilliseconds(uint32(d.Milliseconds())))
}

// Bytes reads up to maxSize bytes of buffer bt from start.
func (bt BufferType) Bytes(start, maxSize int) ([]byte, error) {
	st := proxyGetBufferBytes(bt, uint32(start), uint32(maxSize), retPtr(), retSize())
	if err := statusError(st); err != nil {
		clear(pending)
		return nil, fmt.Errorf("reading buffer %d: %w", bt, err)
	}
	return takeReturned()
}

// Replace replaces the whole content of buffer bt with data.
func (bt BufferType) Replace(data []byte) error {
	// Envoy replaces the buffer when start is 0 and size covers it; the largest size does.
	return bt.SetRange(0, -1, data)
}

// SetRange replaces size bytes at start of buffer bt with data (size -1: to the end).
func (bt BufferType) SetRange(start, size int, data []byte) error {
	st := proxySetBufferBytes(bt, uint32(start), uint32(size), bytesPtr(data), uint32(len(data)))
	unpin()
	if err := statusError(st); err != nil {
		return fmt.Errorf("writing buffer %d: %w", bt, err)
	}
	return nil
}

// Pairs returns all entries of header map mt in the host's order.
func (mt MapType) Pairs() ([]Header, error) {
	if err := statusError(proxyGetHeaderMapPairs(mt, retPtr(), retSize())); err != nil {
		clear(pending)
		return nil, fmt.Errorf("reading header map %d: %w", mt, err)
	}
	buf, err := takeReturned()
	if err != nil {
		return nil, err
	}
	return DecodeHeaders(buf)
}

// SetPairs replaces header map mt with pairs.
func (mt MapType) SetPairs(pairs []Header) error {
	buf := EncodeHeaders(pairs)
	st := proxySetHeaderMapPairs(mt, bytesPtr(buf), uint32(len(buf)))
	unpin()
	return statusError(st)
}

// HeaderMapSize is the byte size of header map mt as Envoy counts it: the sum of name and
// value lengths (HeaderMap::byteSize), not the serialised size.
//
// It is a function, not a method of MapType, so that a module which never calls it does not
// import proxy_get_header_map_size: reflection is reachable in any module that links Coraza,
// and then the linker keeps every exported method of a type stored in an interface, with the
// host functions it calls. Hosts that lack the import (the SDK's emulator) could not load the
// plugin otherwise.
func HeaderMapSize(mt MapType) (int, error) {
	if err := statusError(proxyGetHeaderMapSize(mt, retSize())); err != nil {
		return 0, err
	}
	n := ret.size
	ret.size = 0
	return int(n), nil
}

// Get returns the value of name in map mt (the host joins repeated names with ","), or
// ErrNotFound.
func (mt MapType) Get(name string) (string, error) {
	st := proxyGetHeaderMapValue(mt, stringPtr(name), uint32(len(name)), retPtr(), retSize())
	unpin()
	if err := statusError(st); err != nil {
		clear(pending)
		return "", err
	}
	buf, err := takeReturned()
	return string(buf), err
}

// Add appends a name/value entry to map mt.
func (mt MapType) Add(name, value string) error {
	st := proxyAddHeaderMapValue(mt, stringPtr(name), uint32(len(name)), stringPtr(value), uint32(len(value)))
	unpin()
	return statusError(st)
}

// Replace sets name to value in map mt, dropping its other values; it adds name if absent.
func (mt MapType) Replace(name, value string) error {
	st := proxyReplaceHeaderMapValue(mt, stringPtr(name), uint32(len(name)), stringPtr(value), uint32(len(value)))
	unpin()
	return statusError(st)
}

// Remove deletes every value of name from map mt.
func (mt MapType) Remove(name string) error {
	st := proxyRemoveHeaderMapValue(mt, stringPtr(name), uint32(len(name)))
	unpin()
	return statusError(st)
}

// Property reads a host property such as ("source", "address"); ErrNotFound if the host has
// none by that path.
func Property(path ...string) ([]byte, error) {
	p := strings.Join(path, "\x00")
	st := proxyGetProperty(stringPtr(p), uint32(len(p)), retPtr(), retSize())
	unpin()
	if err := statusError(st); err != nil {
		clear(pending)
		return nil, fmt.Errorf("property %s: %w", strings.Join(path, "."), err)
	}
	return takeReturned()
}

// PropertyString reads a string property.
func PropertyString(path ...string) (string, error) {
	b, err := Property(path...)
	return string(b), err
}

// PropertyInt reads an integer property, which Envoy encodes as 8 little-endian bytes.
func PropertyInt(path ...string) (int64, error) {
	b, err := Property(path...)
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("property %s: %d bytes, want an 8-byte integer", strings.Join(path, "."), len(b))
	}
	return int64(binary.LittleEndian.Uint64(b)), nil
}

// SetProperty sets a host property.
func SetProperty(value []byte, path ...string) error {
	p := strings.Join(path, "\x00")
	st := proxySetProperty(stringPtr(p), uint32(len(p)), bytesPtr(value), uint32(len(value)))
	unpin()
	return statusError(st)
}

// LocalResponse is a reply the plugin sends instead of (or in place of) the upstream's.
type LocalResponse struct {
	StatusCode int
	// Details ends up in Envoy's %RESPONSE_CODE_DETAILS% access-log field.
	Details string
	Headers []Header
	Body    []byte
	// GRPCStatus is sent as grpc-status for gRPC streams; -1 for none.
	GRPCStatus int32
}

// SendLocalResponse replies to the client from the plugin. The host acts on it when the
// current callback returns; the callback should then return ActionPause.
func SendLocalResponse(r LocalResponse) error {
	hdrs := EncodeHeaders(r.Headers)
	st := proxySendLocalResponse(uint32(r.StatusCode),
		stringPtr(r.Details), uint32(len(r.Details)),
		bytesPtr(r.Body), uint32(len(r.Body)),
		bytesPtr(hdrs), uint32(len(hdrs)), r.GRPCStatus)
	unpin()
	return statusError(st)
}

// ContinueStream resumes a direction the plugin paused.
func ContinueStream(st StreamType) error { return statusError(proxyContinueStream(st)) }

// CloseStream closes a direction (Envoy resets the stream).
func CloseStream(st StreamType) error { return statusError(proxyCloseStream(st)) }

// SetEffectiveContext makes later host calls act on context id (for example, from a tick).
func SetEffectiveContext(id uint32) error { return statusError(proxySetEffectiveContext(id)) }

// Done tells the host the current context finished work it deferred in OnDone.
func Done() error { return statusError(proxyDone()) }

// Metric is a host metric; the host aggregates it (Envoy: a stat in its store).
type Metric struct {
	id   uint32
	kind MetricType
}

// DefineMetric registers a metric by name; defining an existing name returns the same metric.
func DefineMetric(kind MetricType, name string) (Metric, error) {
	st := proxyDefineMetric(kind, stringPtr(name), uint32(len(name)), retPtr())
	unpin()
	if err := statusError(st); err != nil {
		return Metric{}, fmt.Errorf("defining metric %q: %w", name, err)
	}
	id := ret.ptr
	ret.ptr = 0
	return Metric{id: id, kind: kind}, nil
}

// Increment adds delta to a counter or gauge.
func (m Metric) Increment(delta int64) error { return statusError(proxyIncrementMetric(m.id, delta)) }

// Record sets a gauge or records a histogram sample.
func (m Metric) Record(v uint64) error { return statusError(proxyRecordMetric(m.id, v)) }

// Value reads the metric's current value.
func (m Metric) Value() (uint64, error) {
	if err := statusError(proxyGetMetric(m.id, retPtr())); err != nil {
		return 0, err
	}
	v := retU64()
	ret.ptr, ret.size = 0, 0
	return v, nil
}
