package producer

import (
	"context"

	"github.com/zshard/zshard/internal/protocol"
)

// Scan calls fn once for every key stored in the cluster, with its raw value
// in the producer's codec, reading every member with paged SCAN requests. A
// key held by several replicas is reported once. fn must not keep value past
// its return unless it copies it; an error from fn stops the scan and is
// returned.
//
// A member that cannot be read is skipped and reported at the end in a
// *NodesError wrapping ErrUnavailable; with R replicas and at most R such
// members, every key was still reported. Members catching up after a
// restart (not ready) are skipped silently: their replicas hold their keys.
func (p *Producer) Scan(ctx context.Context, fn func(key string, value []byte) error) error {
	if err := p.enter(); err != nil {
		return err
	}
	defer p.leave()
	st := p.st.Load()
	if len(st.members) == 0 {
		return ErrNoNodes
	}
	dedup := st.settings.Replicas > 0 || len(st.members) > 1
	seen := map[string]struct{}{}
	failed := map[string]error{}
	var acked []string
	for _, m := range st.members {
		if st.unready[m.Name] {
			continue
		}
		pr := st.peers[m.Name]
		cursor := ""
		var err error
		for {
			var rep protocol.Reply
			rep, err = p.call(ctx, pr, protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: p.cfg.ScanPage}, p.cfg.RequestTimeout)
			if err != nil {
				break
			}
			for _, e := range rep.Collection {
				if dedup {
					if _, ok := seen[e.Key]; ok {
						continue
					}
					seen[e.Key] = struct{}{}
				}
				if err := fn(e.Key, e.Value); err != nil {
					return err
				}
			}
			if cursor = rep.Cursor; cursor == "" {
				break
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			failed[m.Name] = err
			continue
		}
		acked = append(acked, m.Name)
	}
	if len(failed) > 0 {
		return &NodesError{Op: "SCAN", Kind: ErrUnavailable, Acked: acked, Failed: failed}
	}
	return nil
}

// GetAll returns every key and raw value of the cluster (see Scan), in no
// particular order. With an error it also returns what it could read.
func (p *Producer) GetAll(ctx context.Context) ([]protocol.Entry, error) {
	var out []protocol.Entry
	err := p.Scan(ctx, func(k string, v []byte) error {
		out = append(out, protocol.Entry{Key: k, Value: v})
		return nil
	})
	return out, err
}
