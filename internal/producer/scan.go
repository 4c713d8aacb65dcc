package producer

import (
	"context"
	"slices"

	"github.com/zshard/zshard/internal/protocol"
)

// Scan calls fn once for every key stored in the cluster, with its raw value
// in the producer's codec, reading every member with paged SCAN requests. A
// key held by several replicas is reported once. fn must not keep value past
// its return unless it copies it; an error from fn stops the scan and is
// returned.
//
// A member that cannot be read, or is down, is skipped; when some partition
// then had none of its replicas read, the scan ends with a *NodesError
// wrapping ErrUnavailable that names those members (with R replicas and at
// most R of them down every key is still reported, and the scan succeeds).
// Members catching up after a restart (not ready) are skipped silently:
// their replicas hold their keys.
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
	for _, l := range st.settings.Layouts(nil) {
		for _, n := range l {
			if st.peers[n] == nil {
				failed[n] = errDown
			}
		}
	}
	if len(failed) > 0 && !st.covered(acked) {
		return &NodesError{Op: "SCAN", Kind: ErrUnavailable, Acked: acked, Failed: failed}
	}
	return nil
}

// covered reports whether every partition has a node in read among its
// replicas (under either layout during a migration).
func (st *state) covered(read []string) bool {
	if st.table == nil {
		return false
	}
	var buf [16]string
	for p := range st.table.Partitions() {
		names := st.table.AppendPartitionPrefs(buf[:0], p)
		if st.alt != nil {
			names = st.alt.AppendPartitionPrefs(names, p)
		}
		if !slices.ContainsFunc(names, func(n string) bool { return slices.Contains(read, n) }) {
			return false
		}
	}
	return true
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
