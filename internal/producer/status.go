package producer

import (
	"context"
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
	Healthy bool   `json:"healthy"`
	Error   string `json:"error,omitempty"`
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

// Status asks every member for its STATS, concurrently.
func (p *Producer) Status(ctx context.Context) (Status, error) {
	if err := p.enter(); err != nil {
		return Status{}, err
	}
	defer p.leave()
	st := p.st.Load()
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
		ns.Name, ns.RepURL, ns.PullURL = m.Name, m.RepURL, m.PullURL
		ns.Partitions = owned[m.Name]
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
	return out, ctx.Err()
}
