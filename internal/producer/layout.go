package producer

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// Layouts. The nodes a key is placed on come from the settings, phase by
// phase as layout.Settings.Route says (package layout holds the table of
// phases). In legacy mode (Settings.Members empty) the layout is the passing
// members, and a membership change first reads the settings again
// (refreshLegacySettings): a layout recorded before a node joined is applied
// before that node is. With an explicit layout, a node that does not pass is
// skipped by reads and counts as a failed replica of writes.
//
// The snapshot is rebuilt and swapped when the settings change (the settings
// watch), so producers follow a rebalance without restarting.

// maxTables bounds the producer's cache of placement tables.
const maxTables = 4

// layout fills next.table, next.alt and next.writeAlt from p.settings and
// p.members. Called with p.mu held.
func (p *Producer) layout(next *state) error {
	var passing []string
	if p.settings.Legacy() {
		passing = make([]string, len(p.members))
		for i, m := range p.members {
			passing[i] = m.Name
		}
	}
	r := p.settings.Route(passing)
	if len(r.Read) == 0 {
		return nil
	}
	var err error
	if next.table, err = p.tableFor(p.settings, r.Read[0]); err != nil {
		return err
	}
	if len(r.Read) > 1 {
		if next.alt, err = p.tableFor(p.settings, r.Read[1]); err != nil {
			return err
		}
		next.writeAlt = len(r.Write) > 1
	}
	return nil
}

// tableFor returns the table of names under s, from the cache when it was
// built before. Called with p.mu held.
func (p *Producer) tableFor(s layout.Settings, names []string) (*sharding.Table, error) {
	cfg := s.Config()
	key := fmt.Sprintf("%s/%d/%d/%d/%s", cfg.Algorithm, cfg.Partitions, cfg.Replicas, cfg.VNodes, strings.Join(names, ","))
	for _, c := range p.tables {
		if c.key == key {
			return c.t, nil
		}
	}
	t, err := s.Table(names)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	p.tables = append(p.tables, cachedTable{key: key, t: t})
	if len(p.tables) > maxTables {
		p.tables = slices.Delete(p.tables, 0, 1)
	}
	return t, nil
}

type cachedTable struct {
	key string
	t   *sharding.Table
}

// routeInto appends to dst the peers of key: its preference list under the
// primary layout, then the nodes of the other layout's list not already in
// it (for a read always, for a write while writeAlt). Only the key's own
// nodes are ever routed to: a node that is down (not passing) is skipped,
// never replaced, and so are, for a read, members that are catching up
// after a restart (not ready). A write needs st.writeNeed of the key's
// nodes passing in each layout it goes to, a read one passing and ready
// node; otherwise the error wraps ErrUnavailable and names the nodes that
// are down. No layout at all is ErrNoNodes.
func (st *state) routeInto(dst []*peer, key string, buf []string, write bool) ([]*peer, error) {
	if st.table == nil {
		return dst, ErrNoNodes
	}
	part := st.table.Partition(key)
	names := st.table.AppendPartitionPrefs(buf[:0], part)
	primary := len(names)
	if st.alt != nil && (!write || st.writeAlt) {
		var other [8]string
		for _, n := range st.alt.AppendPartitionPrefs(other[:0], part) {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	start := len(dst)
	for _, n := range names {
		if pr := st.peers[n]; pr != nil && (write || !st.unready[n]) {
			dst = append(dst, pr)
		}
	}
	if write {
		if err := st.writable(key, names[:primary], dst[start:]); err != nil {
			return dst[:start], err
		}
		return dst, nil
	}
	if len(dst) == start {
		return dst, st.unavailable(fmt.Sprintf("GET_ONE %q", key), names, 1)
	}
	return dst, nil
}

// writable checks that enough of a key's nodes pass for a write:
// st.writeNeed of its list in the primary layout (primary). The other
// layout of a migration is written where its nodes pass, without a
// consistency of its own: while copying, its new node may not have joined
// yet, and the rebalancer's verification covers what it missed. targets
// are the passing peers routeInto found.
func (st *state) writable(key string, primary []string, targets []*peer) error {
	n := countIn(primary, targets, func(pr *peer) string { return pr.name })
	if need := st.writeNeed(len(primary)); n < need {
		return st.unavailable(fmt.Sprintf("write %q", key), primary, need)
	}
	return nil
}

// unavailable is the error of an operation on the nodes names of which
// fewer than need are passing (and, for reads, ready): it names each node
// that is down or catching up.
func (st *state) unavailable(op string, names []string, need int) error {
	failed := map[string]error{}
	var up []string
	for _, n := range names {
		switch {
		case st.peers[n] == nil:
			failed[n] = errDown
		case st.unready[n]:
			failed[n] = errCatchingUp
		default:
			up = append(up, n)
		}
	}
	return &NodesError{Op: fmt.Sprintf("%s needs %d of %s", op, need, strings.Join(names, ", ")),
		Kind: ErrUnavailable, Acked: up, Failed: failed}
}

// acked reports whether the nodes in acked meet the write consistency for
// key in its primary layout (see writable).
func (st *state) acked(key string, acked []string) bool {
	var buf [8]string
	list := st.table.AppendPartitionPrefs(buf[:0], st.table.Partition(key))
	n := countIn(list, acked, func(name string) string { return name })
	return n >= st.writeNeed(len(list))
}

// countIn counts the items whose name is one of names: the replicas of a
// key's primary layout among the nodes written or acknowledged.
func countIn[E any](names []string, items []E, name func(E) string) int {
	n := 0
	for _, it := range items {
		if slices.Contains(names, name(it)) {
			n++
		}
	}
	return n
}

// Call sends one request to the passing member named node and returns its
// reply; an error reply is a *ReplyError. It is the rebalancer's path to one
// node, whatever the placement: reads are retried as in Get, writes only when
// never sent.
func (p *Producer) Call(ctx context.Context, node string, req protocol.Request) (protocol.Reply, error) {
	if err := p.enter(); err != nil {
		return protocol.Reply{}, err
	}
	defer p.leave()
	pr := p.st.Load().peers[node]
	if pr == nil {
		return protocol.Reply{}, &NodeError{Node: node, Err: fmt.Errorf("%w: %s is not a passing member", ErrUnavailable, node)}
	}
	return p.call(ctx, pr, req, p.cfg.RequestTimeout)
}
