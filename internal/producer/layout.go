package producer

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/sharding"
)

// Layouts. The nodes a key is placed on come from the settings:
//
//   - Settings.Members empty (legacy mode): the passing members, as before
//     rebalancing existed. A membership change first reads the settings
//     again (refreshLegacySettings): a layout recorded before a node joined
//     is applied before that node is.
//   - Settings.Members set, no migration: those nodes, whether or not they
//     pass (a node that does not pass is skipped by reads and counts as a
//     failed replica of writes).
//   - A migration in phase copying: reads and writes use Migration.From, and
//     writes also go to the preference list under Migration.To, so a node
//     that gains a partition never misses a write made during the copy;
//     reads fall back to To.
//   - Phase switched: reads use To and fall back to From; writes go to both.
//   - Phase cleaning: writes go to To only; reads still fall back to From.
//
// The snapshot is rebuilt and swapped when the settings change (the settings
// watch), so producers follow a rebalance without restarting.

// maxTables bounds the producer's cache of placement tables.
const maxTables = 4

// layout fills next.table, next.alt and next.writeAlt from p.settings and
// p.members. Called with p.mu held.
func (p *Producer) layout(next *state) error {
	s := p.settings
	if len(s.Members) == 0 {
		if len(p.members) == 0 {
			return nil
		}
		names := make([]string, len(p.members))
		for i, m := range p.members {
			names[i] = m.Name
		}
		t, err := p.tableFor(s, names)
		next.table = t
		return err
	}
	m := s.Migration
	if m == nil {
		t, err := p.tableFor(s, s.Members)
		next.table = t
		return err
	}
	first, second := m.To, m.From
	if m.Phase == consul.PhaseCopying {
		first, second = m.From, m.To
	}
	var err error
	if next.table, err = p.tableFor(s, first); err != nil {
		return err
	}
	if next.alt, err = p.tableFor(s, second); err != nil {
		return err
	}
	next.writeAlt = m.Phase != consul.PhaseCleaning
	return nil
}

// tableFor returns the table of names under s, from the cache when it was
// built before. Called with p.mu held.
func (p *Producer) tableFor(s consul.Settings, names []string) (*sharding.Table, error) {
	cfg := settingsConfig(s)
	key := fmt.Sprintf("%s/%d/%d/%d/%s", cfg.Algorithm, cfg.Partitions, cfg.Replicas, cfg.VNodes, strings.Join(names, ","))
	for _, c := range p.tables {
		if c.key == key {
			return c.t, nil
		}
	}
	t, err := sharding.NewTable(cfg, sharding.NodesNamed(names...))
	if err != nil {
		return nil, fmt.Errorf("producer: placement over %v: %w", names, err)
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
// it (for a read always, for a write while writeAlt). Nodes that are not
// passing members have no peer and are left out, and so are, for a read,
// members that are catching up after a restart (not ready); no node at all
// is ErrNoNodes.
func (st *state) routeInto(dst []*peer, key string, buf []string, write bool) ([]*peer, error) {
	if st.table == nil {
		return dst, ErrNoNodes
	}
	names := st.table.AppendPrefs(buf[:0], key)
	if st.alt != nil && (!write || st.writeAlt) {
		n := len(names)
		names = dedupTail(st.alt.AppendPrefs(names, key), n)
	}
	start := len(dst)
	for _, n := range names {
		if pr := st.peers[n]; pr != nil && (write || !st.unready[n]) {
			dst = append(dst, pr)
		}
	}
	if len(dst) == start {
		if !write && len(st.unready) > 0 {
			return dst, fmt.Errorf("%w: none of %v is passing and ready for reads", ErrNoNodes, names)
		}
		return dst, fmt.Errorf("%w: none of %v is passing", ErrNoNodes, names)
	}
	return dst, nil
}

// dedupTail keeps names[:n] and the elements of names[n:] that are not in
// names[:n], in order.
func dedupTail(names []string, n int) []string {
	out := names[:n]
	for _, a := range names[n:] {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
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
