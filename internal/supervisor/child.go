package supervisor

import (
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"time"
)

// child is one node process. Its methods are called from the supervisor's
// loop only; the goroutine started by start reports the exit on exits.
type child struct {
	name     string
	cmd      *exec.Cmd
	started  time.Time
	stopping bool        // stop was called: the exit is expected
	killer   *time.Timer // SIGKILL after the stop timeout
}

// exitEvent tells the loop that a child process ended.
type exitEvent struct {
	c   *child
	err error // from Wait: nil for exit status 0
}

// startChild launches exe with args. Its stdout and stderr go to out and
// errOut, prefixed by nothing: node logs carry the node's name.
func startChild(name, exe string, args []string, out, errOut io.Writer, exits chan<- exitEvent) (*child, error) {
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = out, errOut
	// If the supervisor dies without stopping its nodes (kill -9), the
	// kernel sends them SIGTERM, so no orphan keeps its ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, started: time.Now()}
	go func() {
		err := cmd.Wait()
		exits <- exitEvent{c: c, err: err}
	}()
	return c, nil
}

// stop asks the process to exit (SIGTERM: it deregisters and closes) and
// kills it if it is still there after timeout.
func (c *child) stop(timeout time.Duration) {
	if c.stopping {
		return
	}
	c.stopping = true
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	p := c.cmd.Process
	c.killer = time.AfterFunc(timeout, func() { _ = p.Kill() })
}

// exited releases the kill timer; call it when the exit event arrives.
func (c *child) exited() {
	if c.killer != nil {
		c.killer.Stop()
	}
}

// pid returns the process ID.
func (c *child) pid() int { return c.cmd.Process.Pid }

// exitCode returns the process's exit code, or -1 if it was killed by a signal.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
