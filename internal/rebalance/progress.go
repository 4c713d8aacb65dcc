package rebalance

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// ReportProgress calls report with a snapshot every interval until stop,
// which calls it once more with the final snapshot. With a nil report it
// does nothing. The rebalancer and the repair both report this way.
func ReportProgress[P any](every time.Duration, report func(P), snapshot func() P) (stop func()) {
	if report == nil {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				report(snapshot())
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		report(snapshot())
	}
}

// DefaultHolder describes this process in the rebalance lock: its command
// line, pid and host, as a second rebalancer or repair is shown.
func DefaultHolder() string {
	h, _ := os.Hostname()
	return fmt.Sprintf("%s pid %d on %s", strings.Join(os.Args, " "), os.Getpid(), h)
}
