package proc_test

import (
	"io"
	"strconv"
	"syscall"
	"testing"

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
