package consul

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/consul/api"
)

// MigrationKind says what a migration does to the layout.
type MigrationKind string

// Migration kinds.
const (
	MigrationAdd    MigrationKind = "add"
	MigrationRemove MigrationKind = "remove"
)

// MigrationPhase is how far a migration went. Producers route by it (see
// internal/rebalance for the protocol).
type MigrationPhase string

// Migration phases, in order.
const (
	// PhaseCopying: the layout is still From; writes go to the preference
	// lists of both From and To, reads to From then To. The rebalancer copies
	// and verifies the partitions that change.
	PhaseCopying MigrationPhase = "copying"
	// PhaseSwitched: Members is To and Epoch was incremented; writes still go
	// to both layouts, reads to To then From.
	PhaseSwitched MigrationPhase = "switched"
	// PhaseCleaning: writes go to To only, reads to To then From; the
	// rebalancer deletes at the sources what they no longer hold.
	PhaseCleaning MigrationPhase = "cleaning"
)

// Migration is a rebalance in progress, stored in Settings. It changes only by
// check-and-set, together with the layout it describes.
type Migration struct {
	// ID names the migration (e.g. "add-node-4-epoch-3").
	ID string `json:"id"`
	// Kind is add or remove; Node the node added or removed.
	Kind MigrationKind `json:"kind"`
	Node string        `json:"node"`
	// From and To are the layouts (sorted node names) before and after.
	From []string `json:"from"`
	To   []string `json:"to"`
	// Phase is the step reached.
	Phase MigrationPhase `json:"phase"`
}

// Clone returns a deep copy of s (Members and Migration are not shared).
func (s Settings) Clone() Settings {
	s.Members = slices.Clone(s.Members)
	if s.Migration != nil {
		m := *s.Migration
		m.From, m.To = slices.Clone(m.From), slices.Clone(m.To)
		s.Migration = &m
	}
	return s
}

// Equal reports whether s and o are the same settings.
func (s Settings) Equal(o Settings) bool {
	if s.Algorithm != o.Algorithm || s.Partitions != o.Partitions || s.Replicas != o.Replicas ||
		s.VNodes != o.VNodes || s.Epoch != o.Epoch || !slices.Equal(s.Members, o.Members) {
		return false
	}
	if (s.Migration == nil) != (o.Migration == nil) {
		return false
	}
	if s.Migration == nil {
		return true
	}
	a, b := s.Migration, o.Migration
	return a.ID == b.ID && a.Kind == b.Kind && a.Node == b.Node && a.Phase == b.Phase &&
		slices.Equal(a.From, b.From) && slices.Equal(a.To, b.To)
}

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
