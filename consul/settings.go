package consul

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// settingsKey is where the cluster settings live, relative to the prefix.
const settingsKey = "cluster"

// maxCASAttempts bounds UpdateSettings' read-modify-CAS loop.
const maxCASAttempts = 16

// Settings are the cluster-wide parameters every producer must agree on to
// place keys identically. They are stored as one JSON document, so a change
// to several fields is one atomic check-and-set.
type Settings struct {
	// Algorithm is the placement algorithm's name, e.g. "consistent", "hrw".
	Algorithm string `json:"algorithm"`
	// Partitions is the number of fixed partitions keys hash into.
	Partitions int `json:"partitions"`
	// Replicas is the replication factor R: extra copies beyond the owner.
	Replicas int `json:"replicas"`
	// VNodes is the virtual-node count for ring algorithms; 0 = its default.
	VNodes int `json:"vnodes,omitempty"`
	// Epoch is the layout version; every membership change a rebalancer
	// completes increments it.
	Epoch uint64 `json:"epoch"`
	// Members is the explicit layout: the node names the partition table is
	// built from at this Epoch, whether or not they pass their health checks.
	// Empty (the default, "legacy" mode) means the passing members, as
	// before rebalancing existed. The first add-node or remove-node sets it.
	Members []string `json:"members,omitempty"`
	// Migration is the rebalance in progress, nil when none is. It is the
	// rebalancer's journal: a rebalancer that died is resumed from it.
	Migration *Migration `json:"migration,omitempty"`
}

// Settings returns the stored settings and their modify index, or
// ErrNotFound if no cluster has been initialised under the prefix.
func (c *Client) Settings(ctx context.Context) (Settings, uint64, error) {
	s, idx, ok, err := c.settings((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return Settings{}, 0, c.wrapErr("reading settings", err)
	}
	if !ok {
		return Settings{}, 0, fmt.Errorf("consul: %s: %w", c.key(settingsKey), ErrNotFound)
	}
	return s, idx, nil
}

func (c *Client) settings(q *api.QueryOptions) (s Settings, modifyIndex uint64, ok bool, err error) {
	pair, _, err := c.api.KV().Get(c.key(settingsKey), q)
	if err != nil || pair == nil {
		return Settings{}, 0, false, err
	}
	if err := json.Unmarshal(pair.Value, &s); err != nil {
		return Settings{}, 0, false, fmt.Errorf("consul: %s holds invalid settings: %w", pair.Key, err)
	}
	return s, pair.ModifyIndex, true, nil
}

// InitSettings stores s if no settings exist yet (a check-and-set on index
// 0) and returns what is stored afterwards: s, or the settings another
// process stored first. created reports which.
func (c *Client) InitSettings(ctx context.Context, s Settings) (stored Settings, created bool, err error) {
	ok, err := c.casSettings(ctx, s, 0)
	if err != nil {
		return Settings{}, false, err
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
func (c *Client) UpdateSettings(ctx context.Context, fn func(*Settings) error) (Settings, error) {
	for range maxCASAttempts {
		s, idx, err := c.Settings(ctx)
		if err != nil {
			return Settings{}, err
		}
		if err := fn(&s); err != nil {
			return Settings{}, err
		}
		ok, err := c.casSettings(ctx, s, idx)
		if err != nil {
			return Settings{}, err
		}
		if ok {
			return s, nil
		}
	}
	return Settings{}, fmt.Errorf("consul: updating %s: %w", c.key(settingsKey), ErrConflict)
}

func (c *Client) casSettings(ctx context.Context, s Settings, index uint64) (bool, error) {
	data, err := json.Marshal(s)
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
func (c *Client) WatchSettings(ctx context.Context, fn func(s Settings, exists bool)) error {
	type result struct {
		s  Settings
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
		var s Settings
		if err := json.Unmarshal(pair.Value, &s); err != nil {
			return result{}, 0, fmt.Errorf("%s holds invalid settings: %w", pair.Key, err)
		}
		return result{s, true}, meta.LastIndex, nil
	}
	return watch(ctx, defaultWatch, fetch, func(r result) { fn(r.s, r.ok) }, c.logWatchErr("settings"))
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
	return watch(ctx, defaultWatch, fetch, fn, c.logWatchErr(c.key(rel)))
}
