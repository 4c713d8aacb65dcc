package bench

import (
	"cmp"
	"log/slog"
	"time"

	"github.com/zshard/zshard/internal/proc"
)

// CPUCost is the CPU time (user and system) the processes that served a
// measurement used while it ran. On a machine whose cores are shared or
// few, throughput says who won the CPU; the CPU time per operation says
// what an operation costs, and so what more cores would buy.
type CPUCost struct {
	// CPUSeconds is the total over the processes of ByProcess.
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUSecondsPerMillion is CPUSeconds per million operations; it reads
	// as microseconds of CPU per operation.
	CPUSecondsPerMillion float64 `json:"cpu_seconds_per_million"`
	// ByProcess splits CPUSeconds: "nodes" (every node process) and
	// "producer" (the bench process: the producer, and the nodes too when
	// they run in it); "redis-server" and "redis-benchmark".
	ByProcess map[string]float64 `json:"cpu_seconds_by_process"`
}

// newCPUCost returns the cost of ops operations from the CPU time each
// process used; nil if ops is not positive.
func newCPUCost(ops int, byProcess map[string]time.Duration) *CPUCost {
	if ops <= 0 {
		return nil
	}
	c := &CPUCost{ByProcess: make(map[string]float64, len(byProcess))}
	var sum time.Duration
	for name, d := range byProcess {
		c.ByProcess[name] = d.Seconds()
		sum += d
	}
	c.CPUSeconds = sum.Seconds()
	c.CPUSecondsPerMillion = c.CPUSeconds / float64(ops) * 1e6
	return c
}

// cpuMeter reads the CPU time of the processes a measurement is charged
// to: this process, named self in CPUCost.ByProcess ("producer" when
// empty), and the node processes, if any.
type cpuMeter struct {
	self  string
	nodes []*proc.Process
	log   *slog.Logger // nil: discard
}

// cpuReading is the CPU time of a cpuMeter's processes at one instant.
type cpuReading struct {
	self, nodes time.Duration
	err         error
}

// read returns the CPU time used so far.
func (m cpuMeter) read() cpuReading {
	var r cpuReading
	r.self, r.err = proc.SelfCPUTime()
	for _, p := range m.nodes {
		d, err := p.CPUTime()
		if err != nil && r.err == nil {
			r.err = err
		}
		r.nodes += d
	}
	return r
}

// since returns the CPU cost of ops operations performed since before was
// read; nil if a reading failed (the figure is then missing, not the run).
func (m cpuMeter) since(before cpuReading, ops int) *CPUCost {
	after := m.read()
	if err := cmp.Or(before.err, after.err); err != nil {
		if m.log != nil {
			m.log.Warn("CPU time not measured", "err", err)
		}
		return nil
	}
	by := map[string]time.Duration{cmp.Or(m.self, "producer"): after.self - before.self}
	if len(m.nodes) > 0 {
		by["nodes"] = after.nodes - before.nodes
	}
	return newCPUCost(ops, by)
}
