package consul

import (
	"context"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// locksDir holds the generic locks taken with Session.Lock.
const locksDir = "locks/"

// Lock tries to take the lock named name (stored at <prefix>locks/<name>) for
// this session, recording holder as its value. It reports whether the session
// holds it afterwards and, when it does not, the holder value of the session
// that does. The lock is released by Unlock, or when the session ends.
func (s *Session) Lock(ctx context.Context, name, holder string) (ok bool, heldBy string, err error) {
	if err := ValidName(name); err != nil {
		return false, "", err
	}
	key := s.c.key(locksDir + name)
	ok, _, err = s.c.api.KV().Acquire(&api.KVPair{Key: key, Value: []byte(holder), Session: s.id}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return false, "", s.c.wrapErr("taking lock "+name, err)
	}
	if ok {
		return true, holder, nil
	}
	p, _, err := s.c.api.KV().Get(key, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return false, "", s.c.wrapErr("reading lock "+name, err)
	}
	if p != nil {
		heldBy = string(p.Value)
		if p.Session == "" {
			heldBy = fmt.Sprintf("nobody (released less than %v ago)", ClaimLockDelay)
		}
	}
	return false, heldBy, nil
}

// Unlock releases the lock named name if this session holds it.
func (s *Session) Unlock(ctx context.Context, name string) error {
	p := &api.KVPair{Key: s.c.key(locksDir + name), Session: s.id}
	if _, _, err := s.c.api.KV().Release(p, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return s.c.wrapErr("releasing lock "+name, err)
	}
	return nil
}

// LockHolder returns the holder value of the lock named name, "" when nobody
// holds it.
func (c *Client) LockHolder(ctx context.Context, name string) (string, error) {
	p, _, err := c.api.KV().Get(c.key(locksDir+name), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return "", c.wrapErr("reading lock "+name, err)
	}
	if p == nil || p.Session == "" {
		return "", nil
	}
	return string(p.Value), nil
}
