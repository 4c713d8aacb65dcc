package consul

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/zshard/zshard/internal/ctxtime"
)

// watchOptions tunes the blocking-query loop. The zero value is not usable;
// see defaultWatch.
type watchOptions struct {
	wait       time.Duration // how long the agent may hold one query
	minGap     time.Duration // minimum time between two queries (rate limit)
	backoffMin time.Duration // first wait after an error
	backoffMax time.Duration // longest wait after errors
}

// defaultWaitTime is how long the agent may hold one blocking query.
const defaultWaitTime = 5 * time.Minute

var defaultWatch = watchOptions{
	wait:       defaultWaitTime,
	minGap:     100 * time.Millisecond,
	backoffMin: 200 * time.Millisecond,
	backoffMax: 15 * time.Second,
}

// fetchFunc performs one (blocking) read with the given options and returns
// the value and the X-Consul-Index the agent answered with.
type fetchFunc[T any] func(q *api.QueryOptions) (T, uint64, error)

// watch runs blocking queries until ctx is done and calls fn with every
// result whose index differs from the last delivered one; the first result
// is always delivered. It follows Consul's rules for blocking queries:
//
//   - an index that goes backwards (a snapshot restore, an agent that
//     restarted) resets the loop to a full read with index 0;
//   - an index of 0 is never sent back as a wait index (it would not block),
//     so the loop waits on index 1 instead;
//   - consecutive queries are at least minGap apart, so a key that changes
//     very often cannot make the loop spin;
//   - errors back off exponentially with jitter, up to backoffMax, and fn is
//     told nothing until a read succeeds again; after an error the next read
//     is a full one with index 0: the agent may have restarted with a lower
//     index, and a blocking query on the old, higher one would wait its whole
//     wait time before the backwards index showed;
//   - a query that outlives wait plus the agent's jitter is abandoned as an
//     error (a connection that died silently never answers);
//   - an error wrapping ErrPermissionDenied (see refusals) ends the watch
//     and is returned: a refused token stays refused, retrying cannot help.
//
// fn runs on the watching goroutine: a slow fn delays the next query, never
// causes a missed change (the next query returns at once with the newest
// state). watch returns nil when ctx is cancelled.
func watch[T any](ctx context.Context, o watchOptions, fetch fetchFunc[T], fn func(T), onErr func(error, time.Duration)) error {
	var (
		index     uint64
		delivered bool
		backoff   = o.backoffMin
		last      time.Time
	)
	for {
		if gap := time.Until(last.Add(o.minGap)); gap > 0 {
			if ctxtime.Sleep(ctx, gap) != nil {
				return nil
			}
		}
		last = time.Now()
		// The agent answers within wait plus up to wait/16 of jitter; a
		// query that takes much longer hangs on a dead connection.
		qctx, cancel := context.WithTimeout(ctx, o.wait+o.wait/16+5*time.Second)
		q := (&api.QueryOptions{WaitIndex: index, WaitTime: o.wait}).WithContext(qctx)
		v, newIndex, err := fetch(q)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrPermissionDenied) {
			return err
		}
		if err != nil {
			d := jitter(backoff)
			if onErr != nil {
				onErr(err, d)
			}
			if ctxtime.Sleep(ctx, d) != nil {
				return nil
			}
			backoff = min(backoff*2, o.backoffMax)
			index = 0
			continue
		}
		backoff = o.backoffMin

		switch {
		case newIndex < index:
			// Went backwards: start over with a full, non-blocking read.
			index = 0
			continue
		case newIndex == index && delivered:
			continue // the wait timed out with nothing new
		}
		index = max(newIndex, 1)
		delivered = true
		fn(v)
	}
}

// jitter returns d scaled by a random factor in [0.5, 1.5).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

// refusals wraps fetch so that an ACL refusal comes back as a
// *PermissionError (which ends the watch) saying what was being read.
func refusals[T any](c *Client, what string, fetch fetchFunc[T]) fetchFunc[T] {
	return func(q *api.QueryOptions) (T, uint64, error) {
		v, idx, err := fetch(q)
		if pe := c.permissionError(what, err); pe != nil {
			return v, idx, pe
		}
		return v, idx, err
	}
}
