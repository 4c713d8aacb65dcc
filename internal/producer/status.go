package producer

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/layout"
)

// Status describes the cluster as this producer routes it.
type Status struct {
	Settings layout.Settings `json:"settings"`
	// SettingsStored is false when Settings are not in Consul yet (see
	// Producer.SettingsStored).
	SettingsStored bool         `json:"settings_stored"`
	Nodes          []NodeStatus `json:"nodes"`
}

// NodeStatus is one member: its endpoints, whether it answered a STATS
// request, what it holds and how much of the placement it owns.
type NodeStatus struct {
	Name    string `json:"name"`
	RepURL  string `json:"rep"`
	PullURL string `json:"pull"`
	// MetricsURL is the node's Prometheus endpoint (Consul Meta
	// "metrics"); empty when it serves none.
	MetricsURL string `json:"metrics,omitempty"`
	Healthy    bool   `json:"healthy"`
	// Passing is whether the node passes its Consul health check; a member
	// of the layout that does not is down: skipped, not replaced.
	Passing bool `json:"passing"`
	// Member is whether the node is in the layout (a node that registered
	// without being added holds no keys until add-node adds it).
	Member bool   `json:"member"`
	Error  string `json:"error,omitempty"`
	// RTT is the round trip of the STATS request.
	RTT time.Duration `json:"rtt_ns"`
	// Keys and Bytes are the node's store size (STATS).
	Keys  int64 `json:"keys"`
	Bytes int64 `json:"bytes"`
	// Partitions is how many partitions the node owns as first choice.
	Partitions int `json:"partitions"`
	// Stats is the node's full STATS body, nil when it did not answer.
	Stats *protocol.Stats `json:"stats,omitempty"`
}

// Status asks every passing member for its STATS, concurrently, and lists
// the members of the layout that are down (not passing) as such.
func (p *Producer) Status(ctx context.Context) (Status, error) {
	if err := p.enter(); err != nil {
		return Status{}, err
	}
	defer p.leave()
	st := p.st.Load()
	inLayout := map[string]bool{}
	for _, l := range st.settings.Layouts(nil) {
		for _, n := range l {
			inLayout[n] = true
		}
	}
	out := Status{Settings: st.settings, SettingsStored: p.SettingsStored(), Nodes: make([]NodeStatus, len(st.members))}
	// Partitions owned, by node name: with an explicit layout the table's
	// nodes are not necessarily the passing members.
	owned := map[string]int{}
	if st.table != nil {
		counts := st.table.PartitionCounts()
		for i, n := range st.table.Nodes() {
			owned[n.Name] = counts[i]
		}
	}
	var wg sync.WaitGroup
	for i, m := range st.members {
		ns := &out.Nodes[i]
		ns.Name, ns.RepURL, ns.PullURL, ns.MetricsURL = m.Name, m.RepURL, m.PullURL, m.MetricsURL
		ns.Partitions = owned[m.Name]
		ns.Passing, ns.Member = true, inLayout[m.Name] || st.settings.Legacy()
		wg.Go(func() {
			start := time.Now()
			rep, err := p.call(ctx, st.peers[m.Name], protocol.Request{Op: protocol.OpStats}, p.cfg.RequestTimeout)
			ns.RTT = time.Since(start)
			if err != nil {
				ns.Error = err.Error()
				return
			}
			ns.Healthy = true
			if rep.Stats != nil {
				ns.Stats = rep.Stats
				ns.Keys, ns.Bytes = rep.Stats.Keys, rep.Stats.Bytes
			}
		})
	}
	wg.Wait()
	for _, name := range slices.Sorted(maps.Keys(inLayout)) {
		if st.peers[name] == nil {
			out.Nodes = append(out.Nodes, NodeStatus{Name: name, Member: true, Partitions: owned[name], Error: errDown.Error()})
		}
	}
	slices.SortFunc(out.Nodes, func(a, b NodeStatus) int { return strings.Compare(a.Name, b.Name) })
	return out, ctx.Err()
}
