package reqclient

import (
	"context"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/sharding"
)

// ScanRaw calls fn with every entry of the node whose key hash lies in
// [from, to) (to 0: to the end of the keyspace), page by page, limit keys
// a page. The SCAN is raw, so every entry keeps the bytes and the codec of
// the value as stored on the node, even a value with no form in the other
// codec; a node older than raw SCANs answers in JSON, and its entries are
// given with Codec JSON. Each page is a message of its own, so fn may keep
// e.Value.
func (c *Client) ScanRaw(ctx context.Context, from, to uint64, limit int, fn func(e protocol.Entry)) error {
	cursor := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := c.Call(ctx, &protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: limit, HashFrom: from, HashTo: to, Raw: true})
		if err != nil {
			return err
		}
		for _, e := range rep.Collection {
			if e.Codec == 0 {
				e.Codec = protocol.JSON
			}
			fn(e)
		}
		if cursor = rep.Cursor; cursor == "" {
			return nil
		}
	}
}

// ScanRecords calls fn with every page of records of the node whose key
// hash lies in [from, to) (to 0: to the end of the keyspace) and, when set
// is not nil, whose partition is in set, limit records a page: a raw SCAN
// with versions, so values keep their bytes and codec and carry their
// versions, and deleted keys come as tombstone entries (Deleted). A node
// older than versions answers values without versions and no tombstones;
// one older than partition sets answers every key of the range (filter by
// the key's hash when that matters). Entries without codec are given
// Codec JSON. Each page is a message of its own, so fn may keep the
// entries' values; an error of fn ends the scan with it.
func (c *Client) ScanRecords(ctx context.Context, from, to uint64, set *sharding.PartitionSet, limit int, fn func(page []protocol.Entry) error) error {
	req := protocol.Request{Op: protocol.OpScan, Limit: limit, HashFrom: from, HashTo: to, Raw: true, Versions: true}
	if set != nil {
		req.Partitions, req.Bitmap = set.N, set.Bits
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		rep, err := c.Call(ctx, &req)
		if err != nil {
			return err
		}
		for i := range rep.Collection {
			if e := &rep.Collection[i]; e.Codec == 0 && !e.Deleted {
				e.Codec = protocol.JSON
			}
		}
		if err := fn(rep.Collection); err != nil {
			return err
		}
		if req.Cursor = rep.Cursor; req.Cursor == "" {
			return nil
		}
	}
}
