package consul

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// claimsDir holds one lock key per running node, relative to the prefix.
const claimsDir = "claims/"

// DefaultSessionTTL is the TTL of a supervisor's session. If the supervisor
// dies, its claims are released at most about twice this later (Consul
// may wait up to 2x TTL), and the lock delay below after that.
const DefaultSessionTTL = 10 * time.Second

// ClaimLockDelay is how long Consul keeps a released lock from being taken
// again. Consul's default, 15 s, would hold a dead supervisor's nodes down
// for that long; a node process outlives its supervisor by at most its own
// shutdown, so one second is enough.
const ClaimLockDelay = time.Second

// Session is a supervisor's Consul session: the claims it holds on nodes
// are released when it is closed or lost (the supervisor died, the agent
// restarted). It renews itself until closed.
type Session struct {
	c    *Client
	id   string
	stop chan struct{}
	lost chan struct{}
	once sync.Once
	wg   sync.WaitGroup
}

// NewSession creates a session named name with the given TTL (0 means
// DefaultSessionTTL) and renews it in the background.
func (c *Client) NewSession(ctx context.Context, name string, ttl time.Duration) (*Session, error) {
	if ttl == 0 {
		ttl = DefaultSessionTTL
	}
	entry := &api.SessionEntry{
		Name:      name,
		TTL:       ttl.String(),
		Behavior:  api.SessionBehaviorRelease,
		LockDelay: ClaimLockDelay,
	}
	id, _, err := c.api.Session().Create(entry, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return nil, c.wrapErr("creating session "+name, err)
	}
	s := &Session{c: c, id: id, stop: make(chan struct{}), lost: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.lost)
		err := c.api.Session().RenewPeriodic(entry.TTL, id, nil, s.stop)
		if err != nil && !errors.Is(err, api.ErrSessionExpired) {
			c.log.Warn("session renewal stopped", "session", name, "err", err)
		} else if err != nil {
			c.log.Warn("session expired", "session", name)
		}
	}()
	return s, nil
}

// ID returns the Consul session ID.
func (s *Session) ID() string { return s.id }

// Lost is closed when the session ends: closed, expired or no longer
// renewable. Its claims are then no longer held.
func (s *Session) Lost() <-chan struct{} { return s.lost }

// Claim tries to take the lock on node for this session, recording holder
// (e.g. the supervisor's host) as the lock's value. It reports whether this
// session holds the claim afterwards; claiming a node it already holds
// succeeds.
func (s *Session) Claim(ctx context.Context, node, holder string) (bool, error) {
	if err := ValidName(node); err != nil {
		return false, err
	}
	p := &api.KVPair{Key: s.c.key(claimsDir + node), Value: []byte(holder), Session: s.id}
	ok, _, err := s.c.api.KV().Acquire(p, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return false, s.c.wrapErr("claiming "+node, err)
	}
	return ok, nil
}

// Release gives up this session's claim on node.
func (s *Session) Release(ctx context.Context, node string) error {
	p := &api.KVPair{Key: s.c.key(claimsDir + node), Session: s.id}
	if _, _, err := s.c.api.KV().Release(p, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return s.c.wrapErr("releasing "+node, err)
	}
	return nil
}

// Close destroys the session, releasing every claim it holds, and stops
// renewing it. It is safe to call more than once.
func (s *Session) Close(ctx context.Context) error {
	var err error
	s.once.Do(func() {
		close(s.stop)
		s.wg.Wait()
		if _, e := s.c.api.Session().Destroy(s.id, (&api.WriteOptions{}).WithContext(ctx)); e != nil {
			err = s.c.wrapErr("destroying session", e)
		}
	})
	return err
}

// ClaimHeld reports whether any session holds the claim on node. A claim
// that is not held but cannot be taken is in its lock delay: a session that
// held it was invalidated less than ClaimLockDelay ago.
func (c *Client) ClaimHeld(ctx context.Context, node string) (bool, error) {
	p, _, err := c.api.KV().Get(c.key(claimsDir+node), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false, c.wrapErr("reading the claim on "+node, err)
	}
	return p != nil && p.Session != "", nil
}

// Claims returns, for every claimed node, the holder value of its lock.
func (c *Client) Claims(ctx context.Context) (map[string]string, error) {
	pairs, _, err := c.api.KV().List(c.key(claimsDir), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, c.wrapErr("reading claims", err)
	}
	out := make(map[string]string, len(pairs))
	for _, p := range pairs {
		if p.Session == "" {
			continue // released
		}
		out[p.Key[len(c.key(claimsDir)):]] = string(p.Value)
	}
	return out, nil
}

// WatchClaims calls fn with the claim keys now and after every change (a
// supervisor died, a node was released), until ctx is cancelled.
func (c *Client) WatchClaims(ctx context.Context, fn func(api.KVPairs)) error {
	return c.WatchPrefix(ctx, claimsDir, fn)
}

// String describes the session for logs.
func (s *Session) String() string { return fmt.Sprintf("session %s", s.id) }
