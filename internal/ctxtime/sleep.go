// Package ctxtime holds waits that end early when their context is done.
package ctxtime

import (
	"context"
	"time"
)

// Sleep waits d, or until ctx is done; then it returns ctx.Err(), else nil.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
