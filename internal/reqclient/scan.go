package reqclient

import (
	"context"

	"github.com/zshard/zshard/internal/protocol"
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
