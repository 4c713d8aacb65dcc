package node

import (
	"sync/atomic"
	"time"

	"github.com/zshard/zshard/internal/protocol"
)

// Endpoint names used in STATS.
const (
	EndpointRequest = "request"
	EndpointIngest  = "ingest"
)

type endpointCounters struct {
	messages, bytes, errors atomic.Uint64
}

func (e *endpointCounters) snapshot() protocol.EndpointStats {
	return protocol.EndpointStats{Messages: e.messages.Load(), Bytes: e.bytes.Load(), Errors: e.errors.Load()}
}

// counters are updated by both loops, hence atomics. STATS and the
// Prometheus collector (metrics.go) read the same counters.
type counters struct {
	ops       [16]atomic.Uint64 // request endpoint, by protocol.Op
	ingestOps [16]atomic.Uint64 // ingest endpoint, by protocol.Op
	errs      [16]atomic.Uint64 // by index in protocol.Codes
	request   endpointCounters
	ingest    endpointCounters
	catchUp   atomic.Uint64 // records applied by catch-ups
}

// op counts an operation received on the request endpoint.
func (c *counters) op(op protocol.Op) { c.ops[op&15].Add(1) }

// ingestOp counts an operation received on the ingest endpoint.
func (c *counters) ingestOp(op protocol.Op) { c.ingestOps[op&15].Add(1) }

func (c *counters) err(code protocol.Code) {
	for i, k := range protocol.Codes {
		if k == code {
			c.errs[i].Add(1)
			return
		}
	}
	c.errs[len(protocol.Codes)].Add(1) // unknown codes; never expected
}

// Stats returns a snapshot of the node's counters and store size.
func (n *Node) Stats() protocol.Stats {
	st := n.store.Stats()
	s := protocol.Stats{
		Node:       n.cfg.Name,
		Keys:       st.Keys,
		Bytes:      st.Bytes,
		Tombstones: st.Tombstones,
		Ops:        make(map[string]uint64, len(protocol.Ops)),
		Errors:     make(map[string]uint64, len(protocol.Codes)),
		Endpoints: map[string]protocol.EndpointStats{
			EndpointRequest: n.stats.request.snapshot(),
			EndpointIngest:  n.stats.ingest.snapshot(),
		},
		Curve: n.curveStats(),
	}
	n.mu.Lock()
	if !n.started.IsZero() {
		s.UptimeMS = time.Since(n.started).Milliseconds()
	}
	n.mu.Unlock()
	for _, op := range protocol.Ops {
		s.Ops[op.String()] = n.stats.ops[op].Load() + n.stats.ingestOps[op].Load()
	}
	for i, code := range protocol.Codes {
		s.Errors[string(code)] = n.stats.errs[i].Load()
	}
	return s
}
