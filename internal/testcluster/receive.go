package testcluster

import (
	"testing"
	"time"
)

// Receive returns the next value of ch, and fails t with the message what
// when none arrives within within. Like Eventually's, the bound only keeps
// a broken cluster from hanging a test; it is never a performance threshold.
func Receive[T any](t testing.TB, ch <-chan T, within time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(within):
		t.Fatal(what)
		var zero T
		return zero
	}
}
