package proc

import "syscall"

// sysProcAttr returns the attributes of a new process: its own process
// group when group is set, and deathSig (when not zero) sent by the kernel
// once the thread that started it ends, which in practice means once this
// process dies.
func sysProcAttr(group bool, deathSig syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group, Pdeathsig: deathSig}
}
