package wasmplugin

import (
	runtimemetrics "runtime/metrics"

	"github.com/meshwaf/meshwaf/internal/abi"
)

// metricVMMemory is a gauge: the memory the Go runtime of the largest VM holds, in bytes. A
// VM's linear memory never shrinks and grows with the largest request it inspected, so this is
// the figure to watch against a container's memory limit: Envoy runs one VM per worker thread,
// each reports its own and keeps the gauge at the largest.
const metricVMMemory = "waf_filter.vm.memory_bytes"

// vmMemoryEvery is how many streams pass between two readings: a reading costs microseconds,
// memory moves slowly.
const vmMemoryEvery = 64

// runtimeMemory is the runtime metric read: all memory the Go runtime has mapped, which in a
// wasip1 VM is its linear memory less what the module's data and the host's allocations add.
const runtimeMemory = "/memory/classes/total:bytes"

// vmMemory reports the VM's memory to metricVMMemory.
type vmMemory struct {
	gauge   abi.Metric
	defined bool
	streams int
	sample  []runtimemetrics.Sample
}

func newVMMemory(sink logSink) *vmMemory {
	g, err := abi.DefineMetric(abi.MetricGauge, metricVMMemory)
	if err != nil {
		sink(abi.LogLevelWarn, "meshwaf: metric: "+metricVMMemory+": "+err.Error())
	}
	return &vmMemory{gauge: g, defined: err == nil, sample: []runtimemetrics.Sample{{Name: runtimeMemory}}}
}

// streamDone reads the VM's memory at the first stream and every vmMemoryEvery streams after,
// and raises the gauge when this VM holds more than it shows.
func (v *vmMemory) streamDone() {
	if !v.defined {
		return
	}
	v.streams++
	if v.streams%vmMemoryEvery != 1 {
		return
	}
	runtimemetrics.Read(v.sample)
	if v.sample[0].Value.Kind() != runtimemetrics.KindUint64 {
		return
	}
	mine := v.sample[0].Value.Uint64()
	if shown, err := v.gauge.Value(); err == nil && shown >= mine {
		return
	}
	_ = v.gauge.Record(mine)
}
