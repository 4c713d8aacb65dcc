package proc

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// CPUTime returns the CPU time (user and system, over all threads) the
// process pid has used so far, from /proc/<pid>/stat. Its resolution is
// one clock tick (10ms on most systems).
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("CPU time of process %d: %w", pid, err)
	}
	d, err := parseStatCPU(b, clockTicks())
	if err != nil {
		return 0, fmt.Errorf("CPU time of process %d: %w", pid, err)
	}
	return d, nil
}

// clockTicks returns the clock ticks per second /proc counts CPU time in:
// AT_CLKTCK of this process's auxiliary vector, else 100, the value on
// every Linux architecture Go runs on.
var clockTicks = sync.OnceValue(func() int64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return 100
	}
	if hz := auxvValue(b, atClkTck, strconv.IntSize/8); hz > 0 {
		return int64(hz)
	}
	return 100
})

// atClkTck is the auxiliary vector entry holding the clock ticks per second.
const atClkTck = 17

// auxvValue returns the value of entry key in an auxiliary vector of
// native-endian words of size bytes (pairs of type and value), 0 if absent.
func auxvValue(auxv []byte, key uint64, size int) uint64 {
	word := func(b []byte) uint64 {
		if size == 4 {
			return uint64(binary.NativeEndian.Uint32(b))
		}
		return binary.NativeEndian.Uint64(b)
	}
	for len(auxv) >= 2*size {
		k, v := word(auxv[:size]), word(auxv[size:2*size])
		if k == key {
			return v
		}
		auxv = auxv[2*size:]
	}
	return 0
}
