package repair

import (
	"context"
	"sync"
	"time"

	"github.com/zshard/zshard/internal/ctxtime"
)

// pacer keeps work under a rate of keys and of partitions per second,
// counted from its start: each call adds what was done (or is about to
// be) and waits until the totals are due. Keys are charged once they are
// known (a DIGEST reply's key counts), so the pace is kept on average
// over a run, not for each request. A zero rate bounds nothing.
type pacer struct {
	keyRate, partRate float64
	mu                sync.Mutex
	start             time.Time
	keys, parts       float64
}

func newPacer(keyRate, partRate int) *pacer {
	return &pacer{keyRate: float64(keyRate), partRate: float64(partRate), start: time.Now()}
}

// wait charges keys and parts and sleeps until they are due.
func (p *pacer) wait(ctx context.Context, keys, parts int) error {
	if p.keyRate <= 0 && p.partRate <= 0 {
		return nil
	}
	p.mu.Lock()
	p.keys += float64(keys)
	p.parts += float64(parts)
	var due time.Duration
	if p.keyRate > 0 {
		due = time.Duration(p.keys / p.keyRate * float64(time.Second))
	}
	if p.partRate > 0 {
		due = max(due, time.Duration(p.parts/p.partRate*float64(time.Second)))
	}
	at := p.start.Add(due)
	p.mu.Unlock()
	if d := time.Until(at); d > 0 {
		return ctxtime.Sleep(ctx, d)
	}
	return nil
}
