package wasmhost

import (
	"context"
	"fmt"
)

// MemorySizes returns each VM's linear memory size in bytes (0 for a VM not running). Wasm
// memory only grows, so this is the VM's peak; Envoy reports the same figure. It waits until
// every VM is free, so it never reads a memory that a stream's callback is growing.
func (p *Plugin) MemorySizes(ctx context.Context) ([]uint64, error) {
	held := make([]*vm, 0, len(p.vms))
	defer func() {
		for _, v := range held {
			p.free <- v
		}
	}()
	for range p.vms {
		select {
		case <-p.done:
			return nil, ErrClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("wasmhost: wait for the VMs: %w", ctx.Err())
		case v := <-p.free:
			held = append(held, v)
		}
	}
	sizes := make([]uint64, len(held))
	for i, v := range held {
		if v.mod != nil {
			sizes[i] = uint64(v.mod.Memory().Size())
		}
	}
	return sizes, nil
}
