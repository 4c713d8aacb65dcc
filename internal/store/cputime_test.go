package store

import (
	"syscall"
	"time"
)

// cpuTime returns the CPU time (user and system, of all threads) the
// process has used so far. On a machine shared with other work a
// benchmark's CPU time per op varies much less than its wall time, which
// counts the waits for a core: benchmarks report it as cpu-ns/op.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
