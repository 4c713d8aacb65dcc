package rebalance

import (
	"context"
	"fmt"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/ctxtime"
)

// TakeLock takes the Consul lock <prefix>locks/rebalance (LockName) for a
// new session, recording holder as its value, and returns the session that
// holds it. Whatever changes the data placement or compares replicas
// across the cluster takes it: a rebalancer, and an anti-entropy repair
// (package repair), so that they never overlap. When another session holds
// the lock it fails with an error wrapping ErrLocked that names the
// holder, or, with wait, calls onWait (if not nil) once with the holder
// and waits until the lock is free or ctx is done. A lock released a
// moment ago, still in its lock delay, is waited for in any case.
//
// The caller releases the lock with ReleaseLock; a lost session (sess.Lost)
// means the lock may be taken by another.
func TakeLock(ctx context.Context, cc *consul.Client, holder string, wait bool, onWait func(heldBy string)) (*consul.Session, error) {
	sess, err := cc.NewSession(ctx, "zshard-rebalance", 0)
	if err != nil {
		return nil, err
	}
	waited := false
	delayUntil := time.Now().Add(2*consul.ClaimLockDelay + time.Second)
	for {
		ok, heldBy, err := sess.Lock(ctx, LockName, holder)
		if err != nil {
			_ = sess.Close(context.Background())
			return nil, err
		}
		if ok {
			return sess, nil
		}
		free, err := cc.LockHolder(ctx, LockName)
		if err == nil && free == "" && time.Now().Before(delayUntil) {
			// Released by a session that ended a moment ago: in its lock
			// delay, not held. Try again shortly.
			if err := ctxtime.Sleep(ctx, 200*time.Millisecond); err != nil {
				_ = sess.Close(context.Background())
				return nil, err
			}
			continue
		}
		if !wait {
			_ = sess.Close(context.Background())
			return nil, fmt.Errorf("%w: the lock %slocks/%s is held by %s (pass --wait to wait for it)",
				ErrLocked, cc.Config().Prefix, LockName, heldBy)
		}
		if !waited && onWait != nil {
			onWait(heldBy)
		}
		waited = true
		select {
		case <-ctx.Done():
			_ = sess.Close(context.Background())
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// ReleaseLock releases the lock sess took with TakeLock and ends the
// session. An explicit release has no lock delay; destroying the session
// alone would keep the lock for consul.ClaimLockDelay.
func ReleaseLock(sess *consul.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = sess.Unlock(ctx, LockName)
	_ = sess.Close(ctx)
}
