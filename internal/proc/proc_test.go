package proc_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/proc"
	"github.com/zshard/zshard/internal/testcluster"
)

// The test binary runs as the child process of these tests: with
// envChild set, TestMain plays the role it names instead of running tests.
const (
	envChild     = "ZSHARD_PROC_TEST_CHILD"
	envDeathSig  = "ZSHARD_PROC_TEST_DEATHSIG" // role "parent": its child's death signal
	envGreeting  = "ZSHARD_PROC_TEST_GREETING" // role "print": what it prints on stdout
	longSleep    = time.Hour
	neverTimeout = time.Hour // a stop timeout the tests do not expect to expire
	burnCPU      = 300 * time.Millisecond
)

// sink keeps the "burn" child's loop from being optimised away.
var sink int

func TestMain(m *testing.M) {
	if role := os.Getenv(envChild); role != "" {
		os.Exit(playChild(role))
	}
	os.Exit(m.Run())
}

// playChild is the body of the test binary started as a child process.
func playChild(role string) int {
	switch role {
	case "sleep": // default signal handling: SIGTERM ends it
		fmt.Println("ready")
		time.Sleep(longSleep)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		time.Sleep(longSleep)
	case "burn": // uses burnCPU of CPU time, prints it in ns, then sleeps
		used, err := proc.SelfCPUTime()
		for err == nil && used < burnCPU {
			for i := 0; i < 1_000_000; i++ {
				sink += i
			}
			used, err = proc.SelfCPUTime()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("ready %d\n", used)
		time.Sleep(longSleep)
	case "cat": // exits 0 once stdin closes
		_, _ = io.Copy(io.Discard, os.Stdin)
	case "print":
		fmt.Fprintln(os.Stdout, os.Getenv(envGreeting))
		fmt.Fprintln(os.Stderr, "to stderr")
		return 3
	case "parent": // starts a sleeping child sharing its stdout, prints its PID
		sig, _ := strconv.Atoi(os.Getenv(envDeathSig))
		c, err := proc.Start(proc.Config{Path: os.Args[0], Env: childEnv("sleep"), Stdout: os.Stdout, DeathSignal: syscall.Signal(sig)})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("ready %d\n", c.Pid())
		time.Sleep(longSleep)
	}
	return 0
}

func childEnv(role string, extra ...string) []string {
	return append(append(os.Environ(), envChild+"="+role), extra...)
}

// startChild starts the test binary in role with its stdout on a pipe the
// test reads, and stops it when the test ends.
func startChild(t *testing.T, cfg proc.Config, role string, extra ...string) (*proc.Process, *bufio.Reader) {
	t.Helper()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	cfg.Path, cfg.Env, cfg.Stdout = os.Args[0], childEnv(role, extra...), w
	p, err := proc.Start(cfg)
	_ = w.Close() // the child holds its own copy
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Kill(); _ = p.Wait() })
	return p, bufio.NewReader(r)
}

// readyLine reads the child's first line, which it prints once it is set
// up, and returns its fields after "ready".
func readyLine(t *testing.T, out *bufio.Reader) []string {
	t.Helper()
	line, err := out.ReadString('\n')
	require.NoError(t, err)
	f := strings.Fields(line)
	require.NotEmpty(t, f)
	require.Equal(t, "ready", f[0])
	return f[1:]
}

// signalOf returns the signal that ended a process, from its Wait error.
func signalOf(t *testing.T, err error) syscall.Signal {
	t.Helper()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled(), "the process exited (%v) instead of being ended by a signal", err)
	return ws.Signal()
}

// alive reports whether pid names a running process (or one not yet reaped).
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestOutputWiring(t *testing.T) {
	var out, errOut testcluster.SyncBuffer
	p, err := proc.Start(proc.Config{Path: os.Args[0], Env: childEnv("print", envGreeting+"=hello"), Stdout: &out, Stderr: &errOut})
	require.NoError(t, err)
	err = p.Wait()
	require.Equal(t, 3, proc.ExitCode(err))
	require.Equal(t, "hello\n", out.String())
	require.Equal(t, "to stderr\n", errOut.String())
	<-p.Done() // closed once Wait has returned
}

func TestPipeStdout(t *testing.T) {
	p, err := proc.Start(proc.Config{Path: os.Args[0], Env: childEnv("print", envGreeting+"=piped"), PipeStdout: true})
	require.NoError(t, err)
	defer p.Stdout().Close()
	require.Equal(t, 3, proc.ExitCode(p.Wait()))
	// Reads after the exit still see everything the process wrote.
	out, err := io.ReadAll(p.Stdout())
	require.NoError(t, err)
	require.Equal(t, "piped\n", string(out))
}

func TestStop(t *testing.T) {
	for _, tc := range []struct {
		name     string
		role     string
		wantErr  error
		wantSig  syscall.Signal // the signal that ended the process
		timeout  time.Duration
		stopWith os.Signal
	}{
		{name: "exits on SIGTERM", role: "sleep", stopWith: syscall.SIGTERM, timeout: neverTimeout, wantSig: syscall.SIGTERM},
		{name: "killed after the timeout", role: "ignore-term", stopWith: syscall.SIGTERM, timeout: time.Millisecond, wantErr: proc.ErrKilled, wantSig: syscall.SIGKILL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, out := startChild(t, proc.Config{}, tc.role)
			readyLine(t, out)
			err := p.Stop(tc.stopWith, tc.timeout)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.wantSig, signalOf(t, p.Wait()))
			require.Equal(t, -1, proc.ExitCode(p.Wait()))
			// Stopping again, or signalling, an exited process does nothing.
			require.Equal(t, err, p.Stop(syscall.SIGTERM, time.Millisecond))
			require.NoError(t, p.Kill())
		})
	}
}

// TestStopByClosingStdin stops a process that exits at the end of its
// stdin: no signal is sent, and it exits on its own with status 0.
func TestStopByClosingStdin(t *testing.T) {
	p, err := proc.Start(proc.Config{Path: os.Args[0], Env: childEnv("cat"), PipeStdin: true})
	require.NoError(t, err)
	_, err = io.WriteString(p.Stdin(), "some input\n")
	require.NoError(t, err)
	require.NoError(t, p.Stdin().Close())
	require.NoError(t, p.Stop(nil, neverTimeout))
	require.NoError(t, p.Wait())
	require.Equal(t, 0, proc.ExitCode(p.Wait()))
}

// TestStopAsync arms the kill without waiting; the exit arrives on Done.
func TestStopAsync(t *testing.T) {
	p, out := startChild(t, proc.Config{}, "ignore-term")
	readyLine(t, out)
	p.StopAsync(syscall.SIGTERM, time.Millisecond)
	p.StopAsync(syscall.SIGTERM, neverTimeout) // under way: no effect
	<-p.Done()
	require.Equal(t, syscall.SIGKILL, signalOf(t, p.Wait()))
}

// TestGroupKill starts a child that starts a grandchild. With a process
// group of its own, Kill ends both; without, the grandchild lives on.
func TestGroupKill(t *testing.T) {
	for _, group := range []bool{true, false} {
		t.Run(fmt.Sprintf("group=%v", group), func(t *testing.T) {
			p, out := startChild(t, proc.Config{Group: group}, "parent")
			gpid, err := strconv.Atoi(readyLine(t, out)[0])
			require.NoError(t, err)
			t.Cleanup(func() { _ = syscall.Kill(gpid, syscall.SIGKILL) })
			require.NoError(t, p.Kill())
			require.Equal(t, syscall.SIGKILL, signalOf(t, p.Wait()))
			if !group {
				require.True(t, alive(gpid), "the grandchild died with its parent without a group kill")
				return
			}
			// Both held the pipe's write end: it reads EOF once both are gone.
			_, err = io.ReadAll(out)
			require.NoError(t, err)
		})
	}
}

func TestGroupSignal(t *testing.T) {
	p, out := startChild(t, proc.Config{Group: true}, "sleep")
	readyLine(t, out)
	require.ErrorIs(t, p.Signal(nonSyscallSignal{}), proc.ErrNotSyscallSignal)
	require.NoError(t, p.Signal(syscall.SIGTERM))
	require.Equal(t, syscall.SIGTERM, signalOf(t, p.Wait()))
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, 0},
		{"not an exit status", errors.New("boom"), -1},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, proc.ExitCode(tc.err)) })
	}
}

func TestStartError(t *testing.T) {
	_, err := proc.Start(proc.Config{Path: "/nonexistent/program"})
	require.Error(t, err)
}

type nonSyscallSignal struct{}

func (nonSyscallSignal) String() string { return "not a syscall signal" }
func (nonSyscallSignal) Signal()        {}
