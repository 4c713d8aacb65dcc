package testcluster

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a program started by a test, with its stdout and stderr
// collected for assertions and for the log of a failed test.
type Process struct {
	cmd  *exec.Cmd
	out  syncBuffer
	done chan struct{}
	err  error
}

// StartProcess starts bin with args. On cleanup it sends SIGTERM and waits
// up to 30 s (then kills it and fails the test), and logs the output if the
// test failed.
func StartProcess(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	// A test binary killed by `go test -timeout` runs no cleanup; its
	// processes must not outlive it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = p.cmd.Process.Kill()
			t.Errorf("%s %v ignored SIGTERM for 30s", filepath.Base(bin), args)
		}
		if t.Failed() {
			t.Logf("output of %s %v:\n%s", filepath.Base(bin), args, p.Output())
		}
	})
	return p
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Signal sends sig to the process; a process that is gone is ignored.
func (p *Process) Signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// Wait waits up to d for the process to exit and returns its exit error; it
// fails the test if the process is still running after d.
func (p *Process) Wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("process did not exit within %v; output:\n%s", d, p.Output())
		return nil
	}
}

// ServerArgs returns the arguments of `server_consumer N` with request
// ports base..base+9 and ingest ports base+100..base+109 that are free now,
// so test packages running in parallel do not clash on 2000+i, followed by
// extra. The ranges lie below Linux's ephemeral ports (32768 and up), which
// every outgoing connection of every test takes from: a node restarted or
// added later must still find its port free.
func ServerArgs(t testing.TB, n int, extra ...string) []string {
	t.Helper()
	for range 1000 {
		base := 10000 + rand.IntN(22000)
		if portsFree(base, 10) && portsFree(base+100, 10) {
			return append([]string{strconv.Itoa(n), "--base-rep-port", strconv.Itoa(base),
				"--base-pull-port", strconv.Itoa(base + 100)}, extra...)
		}
	}
	t.Fatal("no free port range")
	return nil
}

func portsFree(base, n int) bool {
	for p := base; p < base+n; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// syncBuffer is a bytes.Buffer safe for the writes of a process's two
// output pipes and the reads of the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
