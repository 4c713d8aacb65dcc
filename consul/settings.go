package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hashicorp/consul/api"

	"github.com/zshard/zshard/layout"
)

// settingsKey is where the cluster settings live, relative to the prefix.
const settingsKey = "cluster"

// maxCASAttempts bounds UpdateSettings' read-modify-CAS loop.
const maxCASAttempts = 16

// encodeSettings is the stored form of s: its JSON document.
func encodeSettings(s layout.Settings) ([]byte, error) { return json.Marshal(s) }

// decodeSettings reads the settings stored in pair.
func decodeSettings(pair *api.KVPair) (layout.Settings, error) {
	var s layout.Settings
	if err := json.Unmarshal(pair.Value, &s); err != nil {
		return layout.Settings{}, fmt.Errorf("%s holds invalid settings: %w", pair.Key, err)
	}
	return s, nil
}

// Settings returns the stored settings and their modify index, or
// ErrNotFound if no cluster has been initialised under the prefix.
func (c *Client) Settings(ctx context.Context) (layout.Settings, uint64, error) {
	s, idx, ok, err := c.settings((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return layout.Settings{}, 0, c.wrapErr("reading settings", err)
	}
	if !ok {
		return layout.Settings{}, 0, fmt.Errorf("consul: %s: %w", c.key(settingsKey), ErrNotFound)
	}
	return s, idx, nil
}

func (c *Client) settings(q *api.QueryOptions) (s layout.Settings, modifyIndex uint64, ok bool, err error) {
	pair, _, err := c.api.KV().Get(c.key(settingsKey), q)
	if err != nil || pair == nil {
		return layout.Settings{}, 0, false, err
	}
	if s, err = decodeSettings(pair); err != nil {
		return layout.Settings{}, 0, false, fmt.Errorf("consul: %w", err)
	}
	return s, pair.ModifyIndex, true, nil
}

// InitSettings stores s if no settings exist yet (a check-and-set on index
// 0) and returns what is stored afterwards: s, or the settings another
// process stored first. created reports which.
func (c *Client) InitSettings(ctx context.Context, s layout.Settings) (stored layout.Settings, created bool, err error) {
	ok, err := c.casSettings(ctx, s, 0)
	if err != nil {
		return layout.Settings{}, false, err
	}
	if ok {
		return s, true, nil
	}
	stored, _, err = c.Settings(ctx)
	return stored, false, err
}

// UpdateSettings applies fn to the stored settings and writes the result
// with a check-and-set, retrying from a fresh read when another writer got
// there first. An error from fn aborts without writing. It fails with
// ErrNotFound when there are no settings, and ErrConflict after
// maxCASAttempts lost races.
func (c *Client) UpdateSettings(ctx context.Context, fn func(*layout.Settings) error) (layout.Settings, error) {
	for range maxCASAttempts {
		s, idx, err := c.Settings(ctx)
		if err != nil {
			return layout.Settings{}, err
		}
		if err := fn(&s); err != nil {
			return layout.Settings{}, err
		}
		ok, err := c.casSettings(ctx, s, idx)
		if err != nil {
			return layout.Settings{}, err
		}
		if ok {
			return s, nil
		}
	}
	return layout.Settings{}, fmt.Errorf("consul: updating %s: %w", c.key(settingsKey), ErrConflict)
}

// errRecorded aborts RecordMembers' update when a layout is recorded.
var errRecorded = errors.New("layout recorded")

// RecordMembers records the intended members (layout.Initial: the nodes
// with an add signal and the registered ones, less those removed) in
// settings that have none yet, and returns the settings stored afterwards.
// Settings that already record members are returned unchanged; so are
// they when there is no node at all to record. It fails with ErrNotFound
// when there are no settings.
func (c *Client) RecordMembers(ctx context.Context) (layout.Settings, error) {
	s, _, err := c.Settings(ctx)
	if err != nil || !s.Legacy() {
		return s, err
	}
	signals, err := c.Signals(ctx)
	if err != nil {
		return s, err
	}
	registered, err := c.Registered(ctx)
	if err != nil {
		return s, err
	}
	var up, removed []string
	for _, sg := range signals {
		if sg.State == NodeRemoved {
			removed = append(removed, sg.Name)
		} else {
			up = append(up, sg.Name)
		}
	}
	members := layout.Initial(up, registered, removed)
	if len(members) == 0 {
		return s, nil
	}
	stored, err := c.UpdateSettings(ctx, func(cur *layout.Settings) error {
		if !cur.Legacy() || cur.Migration != nil {
			return errRecorded
		}
		cur.Members = members
		return nil
	})
	if errors.Is(err, errRecorded) {
		stored, _, err = c.Settings(ctx)
	}
	if err == nil && !stored.Legacy() {
		c.log.Info("recorded the cluster's members", "members", stored.Members)
	}
	return stored, err
}

func (c *Client) casSettings(ctx context.Context, s layout.Settings, index uint64) (bool, error) {
	data, err := encodeSettings(s)
	if err != nil {
		return false, err
	}
	p := &api.KVPair{Key: c.key(settingsKey), Value: data, ModifyIndex: index}
	ok, _, err := c.api.KV().CAS(p, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return false, c.wrapErr("writing settings", err)
	}
	return ok, nil
}

// WatchSettings calls fn with the settings now and after every change,
// until ctx is cancelled. exists is false while no settings are stored.
func (c *Client) WatchSettings(ctx context.Context, fn func(s layout.Settings, exists bool)) error {
	type result struct {
		s  layout.Settings
		ok bool
	}
	fetch := func(q *api.QueryOptions) (result, uint64, error) {
		pair, meta, err := c.api.KV().Get(c.key(settingsKey), q)
		if err != nil {
			return result{}, 0, err
		}
		if pair == nil {
			return result{}, meta.LastIndex, nil
		}
		s, err := decodeSettings(pair)
		if err != nil {
			return result{}, 0, err
		}
		return result{s, true}, meta.LastIndex, nil
	}
	return watch(ctx, defaultWatch, refusals(c, "reading settings", fetch), func(r result) { fn(r.s, r.ok) }, c.logWatchErr("settings"))
}

// WatchPrefix calls fn with every pair under the relative prefix rel now
// and after every change, until ctx is cancelled.
func (c *Client) WatchPrefix(ctx context.Context, rel string, fn func(api.KVPairs)) error {
	fetch := func(q *api.QueryOptions) (api.KVPairs, uint64, error) {
		pairs, meta, err := c.api.KV().List(c.key(rel), q)
		if err != nil {
			return nil, 0, err
		}
		return pairs, meta.LastIndex, nil
	}
	return watch(ctx, defaultWatch, refusals(c, "reading "+c.key(rel), fetch), fn, c.logWatchErr(c.key(rel)))
}
