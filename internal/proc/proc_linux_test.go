package proc_test

import (
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/proc"
)

// TestDeathSignal kills a child whose own child was started with a death
// signal: the kernel ends the grandchild too, though nothing signalled it.
func TestDeathSignal(t *testing.T) {
	p, out := startChild(t, proc.Config{}, "parent", envDeathSig+"="+strconv.Itoa(int(syscall.SIGKILL)))
	gpid, err := strconv.Atoi(readyLine(t, out)[0])
	require.NoError(t, err)
	t.Cleanup(func() { _ = syscall.Kill(gpid, syscall.SIGKILL) })
	require.NoError(t, p.Kill()) // the child alone: it has no group
	require.Equal(t, syscall.SIGKILL, signalOf(t, p.Wait()))
	// Both held the pipe's write end: it reads EOF once both are gone.
	_, err = io.ReadAll(out)
	require.NoError(t, err)
}

// TestCPUTime reads the CPU time of a child that burnt a known amount of
// it, as the child's own rusage counted it: /proc agrees to within its
// clock ticks (10ms each for user and system time, truncated) plus what the
// sleeping child's runtime uses after it reported. Once the child is gone
// its CPU time cannot be read.
func TestCPUTime(t *testing.T) {
	p, out := startChild(t, proc.Config{}, "burn")
	ns, err := strconv.ParseInt(readyLine(t, out)[0], 10, 64)
	require.NoError(t, err)
	reported := time.Duration(ns)
	require.GreaterOrEqual(t, reported, burnCPU)
	got, err := p.CPUTime()
	require.NoError(t, err)
	require.GreaterOrEqual(t, got, reported-20*time.Millisecond)
	require.Less(t, got, reported+time.Second, "the child sleeps after reporting")
	require.NoError(t, p.Kill())
	_ = p.Wait()
	_, err = p.CPUTime()
	require.Error(t, err)
}

// TestSelfCPUTime compares this process's rusage with its /proc figure
// around a loop that burns CPU: both grow, and /proc, read between two
// rusage readings, lies between them to within its ticks.
func TestSelfCPUTime(t *testing.T) {
	before, err := proc.SelfCPUTime()
	require.NoError(t, err)
	for used := before; used-before < 100*time.Millisecond; {
		for i := 0; i < 1_000_000; i++ {
			sink += i
		}
		used, err = proc.SelfCPUTime()
		require.NoError(t, err)
	}
	mid, err := proc.CPUTime(os.Getpid())
	require.NoError(t, err)
	after, err := proc.SelfCPUTime()
	require.NoError(t, err)
	require.GreaterOrEqual(t, after-before, 100*time.Millisecond)
	require.GreaterOrEqual(t, mid, before+100*time.Millisecond-20*time.Millisecond)
	require.LessOrEqual(t, mid, after)
}
