package testcluster

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zshard/zshard/internal/proc"
)

// Process is a program started by a test, with its stdout and stderr
// collected for assertions and for the log of a failed test.
type Process struct {
	p   *proc.Process
	out SyncBuffer
}

// StartProcess starts bin with args. On cleanup it sends SIGTERM and waits
// up to 30 s (then kills it and fails the test), and logs the output if the
// test failed.
func StartProcess(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	tp := &Process{}
	p, err := proc.Start(proc.Config{Path: bin, Args: args, Stdout: &tp.out, Stderr: &tp.out,
		// A test binary killed by `go test -timeout` runs no cleanup; its
		// processes must not outlive it.
		DeathSignal: syscall.SIGKILL})
	if err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	tp.p = p
	t.Cleanup(func() {
		if err := p.Stop(syscall.SIGTERM, 30*time.Second); errors.Is(err, proc.ErrKilled) {
			t.Errorf("%s %v ignored SIGTERM for 30s", filepath.Base(bin), args)
		}
		if t.Failed() {
			t.Logf("output of %s %v:\n%s", filepath.Base(bin), args, tp.Output())
		}
	})
	return tp
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.p.Pid() }

// Output returns everything the process printed so far.
func (p *Process) Output() string { return p.out.String() }

// Signal sends sig to the process; a process that is gone is ignored.
func (p *Process) Signal(sig os.Signal) { _ = p.p.Signal(sig) }

// Wait waits up to d for the process to exit and returns its exit error; it
// fails the test if the process is still running after d.
func (p *Process) Wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-p.p.Done():
		return p.p.Wait()
	case <-time.After(d):
		t.Fatalf("process did not exit within %v; output:\n%s", d, p.Output())
		return nil
	}
}

// ServerArgs returns the arguments of `server_consumer N` with request
// ports base..base+9, ingest ports base+100..base+109, metrics ports
// base+200..base+209 and the supervisor's metrics port base+210 that are
// free now (see FreePortRange), so test packages running in parallel do not
// clash on 2000+i, followed by extra.
func ServerArgs(t testing.TB, n int, extra ...string) []string {
	t.Helper()
	base := FreePortRange(t, 211)
	return append([]string{strconv.Itoa(n), "--base-rep-port", strconv.Itoa(base),
		"--base-pull-port", strconv.Itoa(base + 100), "--base-metrics-port", strconv.Itoa(base + 200),
		"--metrics-port", strconv.Itoa(base + 210)}, extra...)
}

// portBlock is the size of the port ranges FreePortRange hands out; every
// caller asks for at most this many ports.
const portBlock = 256

// FreePortRange returns a port P such that P..P+n-1 are free on 127.0.0.1
// now and are promised to no other test on this machine until t ends.
//
// A probe alone is not enough: test packages run in parallel processes, and
// two of them that probe overlapping ranges both find them free and then
// clash when their nodes bind (a supervisor's metrics port did, in CI). So
// the ports 10240..32767 are cut into blocks of 256, and a caller holds an
// flock on the block's file in the temporary directory for the rest of the
// test; other processes skip a locked block. The blocks lie below Linux's
// ephemeral ports (32768 and up), which every outgoing connection of every
// test takes from: a node started later in a test must still find its port
// free.
func FreePortRange(t testing.TB, n int) int {
	t.Helper()
	if n > portBlock {
		t.Fatalf("FreePortRange: %d ports asked, at most %d", n, portBlock)
	}
	dir := filepath.Join(os.TempDir(), "zshard-test-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatalf("FreePortRange: %v", err)
	}
	const first, blocks = 10240, (32768 - 10240) / portBlock
	for range 4 * blocks {
		base := first + rand.IntN(blocks)*portBlock
		f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(base)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			t.Fatalf("FreePortRange: %v", err)
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close() // another test holds this block
			continue
		}
		free := true
		for p := base; p < base+n && free; p++ {
			free = PortFree(p)
		}
		if !free {
			f.Close()
			continue
		}
		t.Cleanup(func() { f.Close() }) // closing releases the lock
		return base
	}
	t.Fatalf("no block of %d free ports left", n)
	return 0
}

// PortFree reports whether port can be bound on 127.0.0.1 now.
func PortFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// SyncBuffer is a bytes.Buffer safe for the writes of a process's output
// pipes and the reads of the test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// NodePIDs returns the node processes that pid started, by node name.
func NodePIDs(t testing.TB, pid int) map[string]int {
	t.Helper()
	out := map[string]int{}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("listing processes: %v", err)
	}
	for _, d := range dirs {
		child, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces, so cut at ')'.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		args := strings.Split(string(cmdline), "\x00")
		for i, a := range args {
			if a == "--name" && i+1 < len(args) {
				out[args[i+1]] = child
			}
		}
	}
	return out
}

// Alive reports whether process pid exists and is not a zombie.
func Alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
