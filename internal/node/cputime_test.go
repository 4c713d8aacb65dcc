package node

import (
	"syscall"
	"testing"
	"time"
)

// cpuTime returns the CPU time (user and system, of all threads) the
// process has used so far. On a machine shared with other work a
// benchmark's CPU time per op varies much less than its wall time, which
// counts the waits for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time since start per op as
// cpu-ns/op: the node's and the client's, which run in the benchmark's
// process.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}
