package supervisor

import (
	"fmt"
	"io"
	"syscall"
	"time"

	"github.com/zshard/zshard/internal/proc"
)

// child is one node process. Its methods are called from the supervisor's
// loop only; the goroutine started by startChild reports the exit on exits.
type child struct {
	name     string
	p        *proc.Process
	started  time.Time
	stopping bool // stop was called: the exit is expected
}

// exitEvent tells the loop that a child process ended.
type exitEvent struct {
	c   *child
	err error // from Wait: nil for exit status 0
}

// startChild launches exe with args. Its stdout and stderr go to out and
// errOut, prefixed by nothing: node logs carry the node's name.
func startChild(name, exe string, args []string, out, errOut io.Writer, exits chan<- exitEvent) (*child, error) {
	p, err := proc.Start(proc.Config{Path: exe, Args: args, Stdout: out, Stderr: errOut,
		// If the supervisor dies without stopping its nodes (kill -9), the
		// kernel sends them SIGTERM, so no orphan keeps its ports.
		DeathSignal: syscall.SIGTERM})
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &child{name: name, p: p, started: time.Now()}
	go func() { exits <- exitEvent{c: c, err: p.Wait()} }()
	return c, nil
}

// stop asks the process to exit (SIGTERM: it deregisters and closes) and
// kills it if it is still there after timeout; the kill is called off once
// the process has exited.
func (c *child) stop(timeout time.Duration) {
	if c.stopping {
		return
	}
	c.stopping = true
	c.p.StopAsync(syscall.SIGTERM, timeout)
}

// pid returns the process ID.
func (c *child) pid() int { return c.p.Pid() }
