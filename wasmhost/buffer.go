package wasmhost

// readRange returns buf[start:start+max], clamped at the end as proxy-wasm-cpp-host's
// get_buffer_bytes does ("don't overread"). A start past the end is BadArgument.
func readRange(buf []byte, start, max uint32) ([]byte, status) {
	if uint64(start) > uint64(len(buf)) {
		return nil, statusBadArgument
	}
	end := uint64(start) + uint64(max)
	if end > uint64(len(buf)) {
		end = uint64(len(buf))
	}
	return buf[start:end], statusOK
}

// setRange applies proxy_set_buffer_bytes the way Envoy's Buffer::copyFrom does:
// start 0 drains the first size bytes (clamped to the buffer) and prepends data, so
// (0, len) replaces the whole body; start at or past the end appends; anything else is
// BadArgument because Envoy cannot splice into the middle of a body.
func setRange(buf []byte, start, size uint32, data []byte) ([]byte, status) {
	switch {
	case start == 0:
		drain := uint64(size)
		if drain > uint64(len(buf)) {
			drain = uint64(len(buf))
		}
		out := make([]byte, 0, len(data)+len(buf)-int(drain))
		out = append(out, data...)
		return append(out, buf[drain:]...), statusOK
	case uint64(start) >= uint64(len(buf)):
		return append(buf, data...), statusOK
	default:
		return buf, statusBadArgument
	}
}
