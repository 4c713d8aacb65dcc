package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"
)

// signalsDir holds one key per node: its desired state (the add/remove
// signal), relative to the prefix.
const signalsDir = "nodes/"

// NodeState is the desired state of a node.
type NodeState string

const (
	// NodeUp: a supervisor should run the node (the add signal).
	NodeUp NodeState = "up"
	// NodeRemoved: no supervisor may run the node (the remove signal).
	NodeRemoved NodeState = "removed"
)

// Signal is the desired state of one node, stored as JSON at
// <prefix>nodes/<name>, e.g. {"state":"up","host":"h1"}. For hand-written
// labs the value may also be the bare word up, add, removed or remove.
type Signal struct {
	Name  string    `json:"-"`
	State NodeState `json:"state"`
	// Host names the supervisor host that must run the node; empty lets
	// any supervisor claim it.
	Host string `json:"host,omitempty"`
	// ModifyIndex is the key's Consul modify index when it was read.
	ModifyIndex uint64 `json:"-"`
}

// Signals returns every node's desired state, sorted by name.
func (c *Client) Signals(ctx context.Context) ([]Signal, error) {
	return readOnce(ctx, c, "reading node signals", c.signals)
}

func (c *Client) signals(q *api.QueryOptions) ([]Signal, uint64, error) {
	pairs, meta, err := c.api.KV().List(c.key(signalsDir), q)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Signal, 0, len(pairs))
	for _, p := range pairs {
		name := strings.TrimPrefix(p.Key, c.key(signalsDir))
		if name == "" || strings.Contains(name, "/") {
			continue // the directory key itself, or something nested
		}
		s, err := ParseSignal(name, p.Value)
		if err != nil {
			c.log.Warn("ignoring unreadable node signal", "key", p.Key, "err", err)
			continue
		}
		s.ModifyIndex = p.ModifyIndex
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Signal) int { return strings.Compare(a.Name, b.Name) })
	return out, meta.LastIndex, nil
}

// ParseSignal decodes the value stored for node name.
func ParseSignal(name string, value []byte) (Signal, error) {
	s := Signal{Name: name}
	v := strings.TrimSpace(string(value))
	switch strings.ToLower(v) {
	case "up", "add":
		s.State = NodeUp
		return s, nil
	case "removed", "remove":
		s.State = NodeRemoved
		return s, nil
	}
	if err := json.Unmarshal(value, &s); err != nil {
		return Signal{}, fmt.Errorf("node signal for %s: want JSON like {\"state\":\"up\"} or a bare up/remove, got %q", name, v)
	}
	switch s.State {
	case NodeUp, NodeRemoved:
		return s, nil
	case "add":
		s.State = NodeUp
		return s, nil
	case "remove":
		s.State = NodeRemoved
		return s, nil
	}
	return Signal{}, fmt.Errorf("node signal for %s: unknown state %q (want up or removed)", name, s.State)
}

// SignalAdd writes the add signal for name: a supervisor (the one on host,
// if host is not empty) will launch it.
func (c *Client) SignalAdd(ctx context.Context, name, host string) error {
	return c.putSignal(ctx, Signal{Name: name, State: NodeUp, Host: host})
}

// SignalRemove writes the remove signal for name: its supervisor stops it
// and no supervisor restarts it.
func (c *Client) SignalRemove(ctx context.Context, name string) error {
	return c.putSignal(ctx, Signal{Name: name, State: NodeRemoved})
}

// EnsureSignal writes s only if the node has no signal yet (check-and-set
// on index 0), so a supervisor starting with `server_consumer N` never
// overrides a remove signal someone wrote. It reports whether it wrote.
func (c *Client) EnsureSignal(ctx context.Context, s Signal) (bool, error) {
	if err := ValidName(s.Name); err != nil {
		return false, err
	}
	data, _ := json.Marshal(s)
	p := &api.KVPair{Key: c.key(signalsDir + s.Name), Value: data}
	ok, _, err := c.api.KV().CAS(p, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return false, c.wrapErr("writing the signal for "+s.Name, err)
	}
	return ok, nil
}

// EnsureSignals is EnsureSignal for several nodes at once: the missing
// signals are written in one transaction, so that a producer reading the
// signals sees all of a starting cluster's nodes or none of them (a
// layout recorded in between would hold only some). At most 64 signals
// are written per transaction. It returns the names it wrote.
func (c *Client) EnsureSignals(ctx context.Context, sigs []Signal) ([]string, error) {
	for _, s := range sigs {
		if err := ValidName(s.Name); err != nil {
			return nil, err
		}
	}
	var wrote []string
	for chunk := range slices.Chunk(sigs, 64) {
		for attempt := 0; ; attempt++ {
			names, err := c.ensureSignalsOnce(ctx, chunk)
			if err == nil {
				wrote = append(wrote, names...)
				break
			}
			if !errors.Is(err, errTxnRaced) || attempt == 4 {
				return wrote, err
			}
		}
	}
	return wrote, nil
}

// errTxnRaced is a transaction that failed because a signal it was to
// create appeared in the meantime.
var errTxnRaced = errors.New("consul: a signal was written concurrently")

func (c *Client) ensureSignalsOnce(ctx context.Context, sigs []Signal) ([]string, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	existing, _, err := c.api.KV().Keys(c.key(signalsDir), "", q)
	if err != nil {
		return nil, c.wrapErr("reading node signals", err)
	}
	var ops api.TxnOps
	var names []string
	for _, s := range sigs {
		key := c.key(signalsDir + s.Name)
		if slices.Contains(existing, key) {
			continue
		}
		data, _ := json.Marshal(s)
		ops = append(ops, &api.TxnOp{KV: &api.KVTxnOp{Verb: api.KVCAS, Key: key, Value: data, Index: 0}})
		names = append(names, s.Name)
	}
	if len(ops) == 0 {
		return nil, nil
	}
	ok, resp, _, err := c.api.Txn().Txn(ops, q)
	if err != nil {
		return nil, c.wrapErr("writing the signals for "+strings.Join(names, ", "), err)
	}
	if !ok {
		if resp != nil && len(resp.Errors) > 0 {
			// An ACL refusal comes back as an operation's error, not as
			// a 403: it must not be retried as a race.
			what := resp.Errors[0].What
			refused := api.StatusError{Code: http.StatusForbidden, Body: what}
			if pe := c.permissionError("writing the signals for "+strings.Join(names, ", "), refused); pe != nil {
				return nil, pe
			}
			return nil, fmt.Errorf("%w: %s", errTxnRaced, what)
		}
		return nil, errTxnRaced
	}
	return names, nil
}

func (c *Client) putSignal(ctx context.Context, s Signal) error {
	if err := ValidName(s.Name); err != nil {
		return err
	}
	data, _ := json.Marshal(s)
	p := &api.KVPair{Key: c.key(signalsDir + s.Name), Value: data}
	if _, err := c.api.KV().Put(p, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return c.wrapErr("writing the signal for "+s.Name, err)
	}
	return nil
}

// WatchSignals calls fn with every node's desired state now and after
// every change (the supervisors' push notification), until ctx is cancelled.
func (c *Client) WatchSignals(ctx context.Context, fn func([]Signal)) error {
	return watch(ctx, defaultWatch, refusals(c, "reading node signals", c.signals), fn, c.logWatchErr("node signals"))
}

// ValidName accepts node names that are safe as a Consul service ID, a KV
// path segment and a directory name: letters, digits, '-', '_' and '.'.
func ValidName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("consul: node name %q: want 1 to 64 characters", name)
	}
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("consul: node name %q: only letters, digits, '-', '_' and '.' are allowed", name)
		}
	}
	if name == "." || name == ".." {
		return fmt.Errorf("consul: node name %q is not allowed", name)
	}
	return nil
}
