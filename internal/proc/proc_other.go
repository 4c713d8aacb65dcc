//go:build !linux

package proc

import "syscall"

// sysProcAttr returns the attributes of a new process: its own process
// group when group is set. Only Linux has a parent-death signal; deathSig
// is ignored here.
func sysProcAttr(group bool, _ syscall.Signal) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group}
}
