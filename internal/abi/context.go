package abi

// The plugin's side of the ABI has the shape the proxy-wasm SDKs use: one VMContext per VM, a
// PluginContext per plugin configuration (Envoy's root context), and an HTTPContext per stream.

// VMContext is the plugin's per-VM state.
type VMContext interface {
	// OnVMStart runs once per VM; vmConfigSize bytes are readable from VMConfiguration.
	OnVMStart(vmConfigSize int) bool
	// NewPluginContext creates the state of one root context.
	NewPluginContext(contextID uint32) PluginContext
}

// PluginContext is the state of one plugin configuration (a root context).
type PluginContext interface {
	// OnPluginStart configures the plugin; pluginConfigSize bytes are readable from
	// PluginConfiguration. Returning false fails the plugin's start.
	OnPluginStart(pluginConfigSize int) bool
	// OnPluginDone runs when the host tears the plugin down; false defers until Done is called.
	OnPluginDone() bool
	OnTick()
	OnQueueReady(queueID uint32)
	// NewHTTPContext creates the state of one stream; nil lets the stream through untouched.
	NewHTTPContext(contextID uint32) HTTPContext
}

// HTTPContext is the state of one HTTP stream.
type HTTPContext interface {
	OnRequestHeaders(numHeaders int, endOfStream bool) Action
	OnRequestBody(bodySize int, endOfStream bool) Action
	OnRequestTrailers(numTrailers int) Action
	OnResponseHeaders(numHeaders int, endOfStream bool) Action
	OnResponseBody(bodySize int, endOfStream bool) Action
	OnResponseTrailers(numTrailers int) Action
	// OnStreamDone runs exactly once per stream, when the host logs or deletes it, whether it
	// completed or was reset.
	OnStreamDone()
}

// PanicHandler may be implemented by an HTTPContext that ends its own stream after a panic in
// one of its callbacks, for instance to log what it was inspecting or to let the stream go on
// by configuration. where names the callback ("OnRequestBody"), recovered is the value given
// to panic and stack the goroutine's stack at the panic. The returned action is the
// callback's: ActionPause requires the handler to have sent a local reply or closed the stream,
// or the stream hangs. Either way the stream's later callbacks are not run (they answer
// ActionContinue); OnStreamDone still is. A context that does not implement it gets the
// dispatcher's fail-closed 500.
type PanicHandler interface {
	OnPanic(where string, recovered any, stack []byte) Action
}

// DefaultPluginContext can be embedded to implement the PluginContext methods a plugin does
// not need.
type DefaultPluginContext struct{}

func (DefaultPluginContext) OnPluginStart(int) bool            { return true }
func (DefaultPluginContext) OnPluginDone() bool                { return true }
func (DefaultPluginContext) OnTick()                           {}
func (DefaultPluginContext) OnQueueReady(uint32)               {}
func (DefaultPluginContext) NewHTTPContext(uint32) HTTPContext { return nil }

// DefaultHTTPContext can be embedded to implement the HTTPContext methods a plugin does not
// need; each lets the stream continue.
type DefaultHTTPContext struct{}

func (DefaultHTTPContext) OnRequestHeaders(int, bool) Action  { return ActionContinue }
func (DefaultHTTPContext) OnRequestBody(int, bool) Action     { return ActionContinue }
func (DefaultHTTPContext) OnRequestTrailers(int) Action       { return ActionContinue }
func (DefaultHTTPContext) OnResponseHeaders(int, bool) Action { return ActionContinue }
func (DefaultHTTPContext) OnResponseBody(int, bool) Action    { return ActionContinue }
func (DefaultHTTPContext) OnResponseTrailers(int) Action      { return ActionContinue }
func (DefaultHTTPContext) OnStreamDone()                      {}
