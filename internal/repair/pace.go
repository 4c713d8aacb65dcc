package repair

import (
	"context"
	"sync"
	"time"

	"github.com/zshard/zshard/internal/ctxtime"
)

// maxCredit is how far a pacer may fall behind its rate and then catch up
// at full speed: after a stall (a slow node, a paused caller) the work
// goes on at the rate, not in a burst.
const maxCredit = 200 * time.Millisecond

// pacer keeps work under a rate of keys and of partitions per second:
// each call charges what was done (or is about to be) and waits until it
// is due, as a leaky bucket. Keys are charged once they are known (a
// DIGEST reply's key counts), so the rate is kept on average, not for
// each request. A zero rate bounds nothing.
type pacer struct {
	keyRate, partRate float64
	mu                sync.Mutex
	keysAt, partsAt   time.Time // when the work charged so far is due
	// keys and parts count everything charged, for tests.
	keys, parts float64
}

func newPacer(keyRate, partRate int) *pacer {
	return &pacer{keyRate: float64(keyRate), partRate: float64(partRate)}
}

// wait charges keys and parts and sleeps until they are due.
func (p *pacer) wait(ctx context.Context, keys, parts int) error {
	p.mu.Lock()
	p.keys += float64(keys)
	p.parts += float64(parts)
	now := time.Now()
	at := now
	if p.keyRate > 0 {
		p.keysAt = charge(p.keysAt, now, float64(keys)/p.keyRate)
		at = later(at, p.keysAt)
	}
	if p.partRate > 0 {
		p.partsAt = charge(p.partsAt, now, float64(parts)/p.partRate)
		at = later(at, p.partsAt)
	}
	p.mu.Unlock()
	if d := at.Sub(now); d > 0 {
		return ctxtime.Sleep(ctx, d)
	}
	return ctx.Err()
}

// charge returns when work of secs seconds is due, the work before it
// being due at due: no earlier than maxCredit ago.
func charge(due, now time.Time, secs float64) time.Time {
	if floor := now.Add(-maxCredit); due.Before(floor) {
		due = floor
	}
	return due.Add(time.Duration(secs * float64(time.Second)))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
