package main

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the kernel send SIGTERM to a node if the supervisor
// dies without stopping it (kill -9), so no orphan keeps its ports.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
