//go:build !linux

package proc

import (
	"fmt"
	"time"
)

// CPUTime returns ErrNoCPUTime: only Linux has /proc/<pid>/stat.
func CPUTime(pid int) (time.Duration, error) {
	return 0, fmt.Errorf("process %d: %w", pid, ErrNoCPUTime)
}
