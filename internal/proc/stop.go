package proc

import (
	"os"
	"syscall"
	"time"
)

// StopAsync asks the process to exit by sending sig (to its group with
// Config.Group) and arranges for it to be killed if it is still running
// after timeout; it does not wait. A nil sig sends nothing: the caller asks
// the process to exit some other way, such as closing its stdin. Once a
// stop is under way, further calls do nothing.
func (p *Process) StopAsync(sig os.Signal, timeout time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited || p.killer != nil {
		return
	}
	if sig != nil {
		_ = p.signalLocked(sig)
	}
	p.killer = time.AfterFunc(timeout, p.killLate)
}

// killLate is the stop timeout: the process has had its chance.
func (p *Process) killLate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return
	}
	p.killed = true
	_ = p.signalLocked(syscall.SIGKILL)
}

// Stop asks the process to exit as StopAsync does and waits until it has.
// It returns ErrKilled if the process had to be killed after timeout, else
// nil; Wait returns how it ended.
func (p *Process) Stop(sig os.Signal, timeout time.Duration) error {
	p.StopAsync(sig, timeout)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.killed {
		return ErrKilled
	}
	return nil
}
