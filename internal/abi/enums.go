package abi

// The numeric values below are fixed by the Proxy-Wasm ABI v0.2.1 (see docs/abi.md).

// Action is what a header, body or trailer callback tells the host to do next.
type Action uint32

const (
	// ActionContinue lets the stream proceed.
	ActionContinue Action = 0
	// ActionPause holds the stream: headers are held (StopIteration) and body chunks are
	// buffered by the host (StopIterationAndBuffer) until the plugin continues.
	ActionPause Action = 1
)

// LogLevel is the severity of a proxy_log message.
type LogLevel uint32

const (
	LogLevelTrace LogLevel = iota
	LogLevelDebug
	LogLevelInfo
	LogLevelWarn
	LogLevelError
	LogLevelCritical
)

var logLevelNames = [...]string{"trace", "debug", "info", "warn", "error", "critical"}

func (l LogLevel) String() string {
	if int(l) < len(logLevelNames) {
		return logLevelNames[l]
	}
	return "unknown"
}

// BufferType names a byte buffer the host owns.
type BufferType uint32

const (
	RequestBody          BufferType = 0
	ResponseBody         BufferType = 1
	DownstreamData       BufferType = 2
	UpstreamData         BufferType = 3
	HTTPCallResponseBody BufferType = 4
	GRPCReceiveBuffer    BufferType = 5
	VMConfiguration      BufferType = 6
	PluginConfiguration  BufferType = 7
	CallData             BufferType = 8
)

// MapType names a header or trailer map the host owns.
type MapType uint32

const (
	RequestHeaders          MapType = 0
	RequestTrailers         MapType = 1
	ResponseHeaders         MapType = 2
	ResponseTrailers        MapType = 3
	GRPCInitialMetadata     MapType = 4
	GRPCTrailingMetadata    MapType = 5
	HTTPCallResponseHeaders MapType = 6
	HTTPCallResponseTrailer MapType = 7
)

// StreamType names one direction of a stream, for continue and close.
type StreamType uint32

const (
	StreamRequest    StreamType = 0
	StreamResponse   StreamType = 1
	StreamDownstream StreamType = 2
	StreamUpstream   StreamType = 3
)

// MetricType is the kind of a host metric.
type MetricType uint32

const (
	MetricCounter   MetricType = 0
	MetricGauge     MetricType = 1
	MetricHistogram MetricType = 2
)
