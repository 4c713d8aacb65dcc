package proc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrNoCPUTime means the CPU time of another process cannot be read on
// this platform (it is read from /proc, which only Linux has here).
var ErrNoCPUTime = errors.New("the CPU time of another process is read from /proc (Linux only)")

// SelfCPUTime returns the CPU time (user and system, over all threads)
// this process has used so far.
func SelfCPUTime() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("getrusage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// CPUTime returns the CPU time (user and system, over all threads) the
// process has used so far. It is read from /proc/<pid>/stat, in clock
// ticks (10ms on most systems); once the process has exited it is an
// error.
func (p *Process) CPUTime() (time.Duration, error) { return CPUTime(p.Pid()) }

// parseStatCPU returns utime + stime of a /proc/<pid>/stat line, in clock
// ticks of hz per second. The second field, the command name in
// parentheses, may itself hold spaces and parentheses: the fields are
// counted from the last ')'.
func parseStatCPU(stat []byte, hz int64) (time.Duration, error) {
	s := string(stat)
	end := strings.LastIndexByte(s, ')')
	if end < 0 || hz <= 0 {
		return 0, fmt.Errorf("malformed stat line %.80q", s)
	}
	// After ")": state (field 3) ... utime (field 14), stime (field 15).
	f := strings.Fields(s[end+1:])
	const utime, stime = 14 - 3, 15 - 3
	if len(f) <= stime {
		return 0, fmt.Errorf("stat line has %d fields after the command name, want more than %d", len(f), stime)
	}
	u, err1 := strconv.ParseUint(f[utime], 10, 63)
	sy, err2 := strconv.ParseUint(f[stime], 10, 63)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("stat line utime/stime: %w", err)
	}
	ticks := u + sy
	if ticks > uint64(1<<62)/uint64(time.Second) {
		return 0, fmt.Errorf("stat line utime+stime %d ticks out of range", ticks)
	}
	return time.Duration(ticks) * time.Second / time.Duration(hz), nil
}
