package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// ErrClosed is returned by a Plugin used after Close.
var ErrClosed = errors.New("wasmhost: plugin closed")

// Plugin is one plugin configuration served by a pool of VMs of a Module, as Envoy runs a
// filter configuration on one VM per worker. Each VM serves one stream at a time; a stream
// keeps its VM from NewStream to Close. Safe for concurrent use.
type Plugin struct {
	module  *Module
	cfg     pluginConfig
	metrics *metricRegistry
	vms     []*vm
	free    chan *vm
	done    chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// NewPlugin starts the plugin's VMs (instantiate, _initialize, root context, vm_start,
// configure). A configuration the plugin rejects is an error carrying its error log.
func (m *Module) NewPlugin(ctx context.Context, opts ...PluginOption) (*Plugin, error) {
	cfg := defaultPluginConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.vms < 1 {
		return nil, fmt.Errorf("wasmhost: WithVMs(%d): need at least one VM", cfg.vms)
	}
	if cfg.logger == nil {
		cfg.logger = func(LogLevel, string) {}
	}
	p := &Plugin{
		module:  m,
		cfg:     cfg,
		metrics: newMetricRegistry(),
		free:    make(chan *vm, cfg.vms),
		done:    make(chan struct{}),
	}
	errs := make([]error, cfg.vms)
	var wg sync.WaitGroup
	for i := range cfg.vms {
		v := newVM(p)
		p.vms = append(p.vms, v)
		wg.Add(1)
		go func() {
			defer wg.Done()
			v.mu.Lock()
			defer v.mu.Unlock()
			errs[i] = v.start(ctx)
		}()
	}
	wg.Wait()
	if err := joinVMErrors(errs); err != nil {
		close(p.done) // no VM ticks any more
		for _, v := range p.vms {
			v.mu.Lock()
			v.discard()
			v.mu.Unlock()
		}
		return nil, err
	}
	for _, v := range p.vms {
		p.free <- v
	}
	return p, nil
}

// NewStream creates an HTTP stream context on a free VM, waiting for one if all are busy.
// A VM that failed earlier is rebuilt first. The stream must be closed to free the VM.
func (p *Plugin) NewStream(ctx context.Context, info StreamInfo) (*Stream, error) {
	var v *vm
	select {
	case <-p.done:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("wasmhost: wait for a free VM: %w", ctx.Err())
	case v = <-p.free:
	}
	select {
	case <-p.done:
		p.free <- v
		return nil, ErrClosed
	default:
	}
	v.mu.Lock()
	if !v.alive() {
		if err := v.start(ctx); err != nil {
			v.discard()
			v.mu.Unlock()
			p.free <- v
			return nil, fmt.Errorf("wasmhost: rebuild failed VM: %w", err)
		}
	}
	s, err := v.newStream(info, func() { p.free <- v })
	v.mu.Unlock()
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// closed reports whether Close has begun; from then on no VM ticks.
func (p *Plugin) closed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Metrics returns a snapshot of the metrics the plugin defined, shared by all its VMs.
func (p *Plugin) Metrics() Metrics { return p.metrics.snapshot() }

// Close stops every VM's tick, waits for streams in flight (until ctx ends), ends each VM's
// root context (proxy_on_done, proxy_on_delete, as Envoy does when it tears a plugin down) and
// frees the instances. Once it returns, no tick of a closed VM runs. The Module stays usable.
func (p *Plugin) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		close(p.done) // a tick timer that fires from now on does nothing
		var errs []error
	loop:
		for range p.vms {
			select {
			case v := <-p.free:
				v.mu.Lock() // waits for a tick in flight
				if v.alive() {
					if _, err := v.callBool("proxy_on_done", v.fn.done, v.root, rootContextID); err != nil {
						errs = append(errs, err)
					} else if _, err := v.call("proxy_on_delete", v.fn.delete, v.root, rootContextID); err != nil {
						errs = append(errs, err)
					}
				}
				v.discard()
				v.mu.Unlock()
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("wasmhost: close plugin with streams in flight: %w", ctx.Err()))
				break loop
			}
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// joinVMErrors joins the start errors of a plugin's VMs, each distinct error once with the
// VMs that had it: every VM runs the same module with the same configuration, so a refused
// configuration would otherwise repeat the plugin's whole explanation once per VM.
func joinVMErrors(errs []error) error {
	var order []string
	byText := map[string][]int{}
	first := map[string]error{}
	for i, err := range errs {
		if err == nil {
			continue
		}
		text := err.Error()
		if _, seen := byText[text]; !seen {
			order = append(order, text)
			first[text] = err
		}
		byText[text] = append(byText[text], i)
	}
	var out []error
	for _, text := range order {
		vms := byText[text]
		label := fmt.Sprintf("VM %d", vms[0])
		if len(vms) > 1 {
			ids := make([]string, len(vms))
			for j, id := range vms {
				ids[j] = strconv.Itoa(id)
			}
			label = "VMs " + strings.Join(ids, ", ")
		}
		out = append(out, fmt.Errorf("%s: %w", label, first[text]))
	}
	return errors.Join(out...)
}
