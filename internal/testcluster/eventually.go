package testcluster

import (
	"testing"
	"time"
)

// Eventually checks cond every poll until it holds, and fails t, naming
// what it waited for, when it still does not after within. Unlike
// require.Eventually it calls cond on the test's goroutine, so cond may
// use require. within bounds a wait so that a broken cluster fails a test
// instead of hanging it; it is never a performance threshold.
func Eventually(t testing.TB, what string, within, poll time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(poll)
	}
	t.Fatalf("timed out waiting until %s", what)
}
