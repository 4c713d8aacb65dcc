package consul

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/consul/api"
)

// RepairKey is where an anti-entropy repair (client_producer repair) keeps
// its progress, relative to the prefix, so that an interrupted run
// continues where it stopped.
const RepairKey = "repair"

// GetJSON reads the JSON document stored at rel (relative to the prefix)
// into v. It fails with an error wrapping ErrNotFound when there is none.
func (c *Client) GetJSON(ctx context.Context, rel string, v any) error {
	p, _, err := c.api.KV().Get(c.key(rel), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return c.wrapErr("reading "+rel, err)
	}
	if p == nil {
		return fmt.Errorf("consul: %s: %w", c.key(rel), ErrNotFound)
	}
	if err := json.Unmarshal(p.Value, v); err != nil {
		return fmt.Errorf("consul: %s holds invalid JSON: %w", c.key(rel), err)
	}
	return nil
}

// PutJSON stores v as a JSON document at rel (relative to the prefix),
// replacing what was there.
func (c *Client) PutJSON(ctx context.Context, rel string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("consul: encoding %s: %w", rel, err)
	}
	if _, err := c.api.KV().Put(&api.KVPair{Key: c.key(rel), Value: data}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return c.wrapErr("writing "+rel, err)
	}
	return nil
}

// DeleteKey deletes the key rel (relative to the prefix); deleting a key
// that does not exist is not an error.
func (c *Client) DeleteKey(ctx context.Context, rel string) error {
	if _, err := c.api.KV().Delete(c.key(rel), (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return c.wrapErr("deleting "+rel, err)
	}
	return nil
}
