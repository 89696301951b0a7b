package wasmhost

// ABI enumerations from docs/abi.md. They stay unexported: callers see Go types and errors.

type status uint32

const (
	statusOK                   status = 0
	statusNotFound             status = 1
	statusBadArgument          status = 2
	statusSerializationFailure status = 3
	statusParseFailure         status = 4
	statusInvalidMemoryAccess  status = 6
	statusEmpty                status = 7
	statusInternalFailure      status = 10
	statusUnimplemented        status = 12
)

type bufferType uint32

const (
	bufferHTTPRequestBody     bufferType = 0
	bufferHTTPResponseBody    bufferType = 1
	bufferVMConfiguration     bufferType = 6
	bufferPluginConfiguration bufferType = 7
)

type mapType uint32

const (
	mapRequestHeaders   mapType = 0
	mapRequestTrailers  mapType = 1
	mapResponseHeaders  mapType = 2
	mapResponseTrailers mapType = 3
)

type streamType uint32

const (
	streamRequest  streamType = 0
	streamResponse streamType = 1
)

// Header and body actions returned by the guest's stream callbacks.
const (
	actionContinue = 0
	// Headers: StopIteration. Bodies: StopIterationAndBuffer.
	actionStop = 1
	// Headers: ContinueAndEndStream. Bodies: StopIterationAndWatermark.
	action2 = 2
	// Headers: StopAllIterationAndBuffer. Bodies: StopIterationNoBuffer.
	action3 = 3
	// Headers: StopAllIterationAndWatermark.
	action4 = 4
)
