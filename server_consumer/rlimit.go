package main

import "syscall"

// raiseFileLimit raises the soft limit of open files to the hard limit
// (the Go runtime does so too since Go 1.19; this states it and reports
// the limit the node runs with). Every client connection of a node holds a file descriptor; with the
// usual soft limit of 1024 a flood of idle connections would leave the
// node unable to accept more (ZeroMQ keeps serving the connections it
// has). The supervisor's node processes inherit the raised limit. A
// failure leaves the limit as it was: the node runs, with fewer
// connections (docs/OPERATIONS.md).
func raiseFileLimit() (soft, hard uint64, err error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, 0, err
	}
	if l.Cur < l.Max {
		raised := l
		raised.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err != nil {
			return l.Cur, l.Max, err
		}
		l = raised
	}
	return l.Cur, l.Max, nil
}
