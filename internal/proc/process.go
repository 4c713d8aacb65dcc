package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Errors of this package.
var (
	// ErrKilled means a process did not exit within its stop timeout and
	// was killed.
	ErrKilled = errors.New("process did not exit in time and was killed")
	// ErrNotSyscallSignal means a signal for a process group is not a
	// syscall.Signal.
	ErrNotSyscallSignal = errors.New("a process group takes syscall signals only")
)

// Config describes a process to start. The zero value of every field is
// the default its comment states.
type Config struct {
	// Path is the program to run. Required.
	Path string
	// Args are its arguments, without the program name.
	Args []string
	// Env is its environment. Default nil: this process's environment.
	Env []string
	// Stdout and Stderr receive its output. Default nil: discarded.
	Stdout, Stderr io.Writer
	// PipeStdin connects its stdin to a pipe the caller writes through
	// Process.Stdin; closing that pipe is how a parent can ask a child that
	// reads stdin to exit. Default false: stdin reads nothing.
	PipeStdin bool
	// PipeStdout connects its stdout to a pipe the caller reads through
	// Process.Stdout, instead of Stdout. The read end stays open after the
	// process exits, so nothing it wrote is lost; the caller closes it.
	// Default false.
	PipeStdout bool
	// Group puts the process in a process group of its own: Signal, Kill
	// and the stop methods then reach the whole group, that is, the process
	// and every process it starts that stays in the group. Default false.
	Group bool
	// DeathSignal, when not zero, is sent to the process by the kernel if
	// this process dies without stopping it (kill -9, or a test binary
	// killed by `go test -timeout`), so no orphan outlives its parent.
	// Linux only; ignored elsewhere. Default 0: none.
	DeathSignal syscall.Signal
}

// Process is a started child process. Its methods are safe to call from
// several goroutines.
type Process struct {
	cmd    *exec.Cmd
	group  bool
	stdin  io.WriteCloser
	stdout io.ReadCloser
	done   chan struct{}
	err    error // from Wait, set before done is closed

	mu     sync.Mutex
	exited bool        // done is closed: the process ID may be reused
	killer *time.Timer // armed by StopAsync
	killed bool        // the stop timeout expired and SIGKILL was sent
}

// Start starts the process cfg describes. A goroutine waits for it, so its
// exit is seen (Done, Wait) without the caller waiting.
func Start(cfg Config) (*Process, error) {
	cmd := exec.Command(cfg.Path, cfg.Args...)
	cmd.Env = cfg.Env
	cmd.Stdout, cmd.Stderr = cfg.Stdout, cfg.Stderr
	cmd.SysProcAttr = sysProcAttr(cfg.Group, cfg.DeathSignal)
	p := &Process{cmd: cmd, group: cfg.Group, done: make(chan struct{})}
	var err error
	if cfg.PipeStdin {
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			return nil, err
		}
	}
	var childStdout *os.File // the pipe's write end, the child's copy
	if cfg.PipeStdout {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		p.stdout, childStdout, cmd.Stdout = r, w, w
	}
	err = cmd.Start()
	if childStdout != nil {
		_ = childStdout.Close()
	}
	if err != nil {
		if p.stdout != nil {
			_ = p.stdout.Close()
		}
		return nil, err
	}
	go p.wait()
	return p, nil
}

func (p *Process) wait() {
	err := p.cmd.Wait()
	p.mu.Lock()
	p.err = err
	p.exited = true
	if p.killer != nil {
		p.killer.Stop()
	}
	p.mu.Unlock()
	close(p.done)
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stdin returns the write end of the process's stdin; nil without
// Config.PipeStdin.
func (p *Process) Stdin() io.WriteCloser { return p.stdin }

// Stdout returns the read end of the process's stdout, which the caller
// closes; nil without Config.PipeStdout.
func (p *Process) Stdout() io.ReadCloser { return p.stdout }

// Done is closed once the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns what exec.Cmd.Wait
// returned: nil for exit status 0, else an *exec.ExitError (see ExitCode).
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Signal sends sig to the process, or to its group with Config.Group. A
// process that has exited is left alone: its ID may belong to another
// process by now.
func (p *Process) Signal(sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.signalLocked(sig)
}

func (p *Process) signalLocked(sig os.Signal) error {
	if p.exited {
		return nil
	}
	if !p.group {
		err := p.cmd.Process.Signal(sig)
		if errors.Is(err, os.ErrProcessDone) {
			return nil
		}
		return err
	}
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("%w: %v", ErrNotSyscallSignal, sig)
	}
	return syscall.Kill(-p.cmd.Process.Pid, s)
}

// Kill sends SIGKILL to the process, or to its group with Config.Group.
func (p *Process) Kill() error { return p.Signal(syscall.SIGKILL) }

// ExitCode returns the exit code in err, an error from Wait: 0 for nil, -1
// if the process was ended by a signal or err is not an exit status.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}
