package producer

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/zshard/zshard/internal/protocol"
)

// Sentinel errors. Callers test with errors.Is; the errors returned wrap them.
var (
	// ErrClosed means the Producer (or Bulk) was closed.
	ErrClosed = errors.New("producer: closed")
	// ErrNotFound means no replica that answered holds the key.
	ErrNotFound = errors.New("producer: key not found")
	// ErrNoNodes means the cluster has no passing member.
	ErrNoNodes = errors.New("producer: no nodes in the cluster")
	// ErrTimeout means a node did not answer in time (or could not be sent to).
	ErrTimeout = errors.New("producer: node did not answer in time")
	// ErrUnavailable means too few of a key's replicas are up to serve an
	// operation: none answered a read, or fewer than the write consistency
	// pass for a write. The error names the nodes that are down.
	ErrUnavailable = errors.New("producer: unavailable")
	// ErrQuorum means fewer replicas acknowledged a write than the quorum.
	ErrQuorum = errors.New("producer: write not acknowledged by enough replicas")
	// ErrStatic means an operation that needs Consul (adding or removing a
	// node, rebalancing, repair) was asked of a static cluster
	// (Config.Static).
	ErrStatic = errors.New("needs Consul: a static cluster has a fixed membership and no stored settings")
)

// NodeError is a failure of one node.
type NodeError struct {
	Node string
	Err  error
}

func (e *NodeError) Error() string { return e.Node + ": " + e.Err.Error() }
func (e *NodeError) Unwrap() error { return e.Err }

// ReplyError is an error reply from a node ({"status":"error",...}).
type ReplyError struct {
	Code    protocol.Code
	Message string
}

func (e *ReplyError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Is makes errors.Is(err, ErrNotFound) true for a not_found reply.
func (e *ReplyError) Is(target error) bool {
	return target == ErrNotFound && e.Code == protocol.CodeNotFound
}

// NodesError collects the failures of several nodes, e.g. the replicas that
// did not acknowledge a write or the nodes a Scan could not read.
type NodesError struct {
	// Op describes the operation, e.g. `PUT "k"`.
	Op string
	// Kind is the sentinel this error wraps (ErrQuorum, ErrUnavailable, ...).
	Kind error
	// Acked lists the nodes that succeeded.
	Acked []string
	// Failed maps each failed node to its error.
	Failed map[string]error
}

func (e *NodesError) Error() string {
	names := slices.Sorted(maps.Keys(e.Failed))
	parts := make([]string, len(names))
	for i, n := range names {
		err := e.Failed[n]
		if ne, ok := err.(*NodeError); ok && ne.Node == n {
			err = ne.Err // named once
		}
		parts[i] = n + ": " + err.Error()
	}
	msg := e.Kind.Error()
	if e.Op != "" {
		msg = e.Op + ": " + msg
	}
	if len(e.Acked) > 0 {
		msg += fmt.Sprintf(" (acknowledged by %s)", strings.Join(e.Acked, ", "))
	}
	return msg + ": " + strings.Join(parts, "; ")
}

// Unwrap returns the kind and every node's error.
func (e *NodesError) Unwrap() []error {
	out := []error{e.Kind}
	for _, err := range e.Failed {
		out = append(out, err)
	}
	return out
}

// errDown and errCatchingUp say why a node of a key was not asked.
var (
	errDown       = errors.New("down (not passing its Consul health check)")
	errCatchingUp = errors.New("catching up after a restart (not ready for reads)")
)

// errNotSent marks a transport failure before the request left the
// producer: no socket, or a send that timed out (with ZMQ_IMMEDIATE nothing
// is queued for a peer without a live connection). Such a request never
// reached the node and may be retried whatever it is.
var errNotSent = fmt.Errorf("request not sent: %w", ErrTimeout)

// transportErr reports whether err is a transport failure (no answer)
// rather than an answer.
func transportErr(err error) bool {
	return errors.Is(err, ErrTimeout)
}

// retryable reports whether a request of op that failed with err may be
// sent again: reads always (GET_ONE, SCAN, STATS, PING, SYNC, DIGEST change
// nothing) and DELETE_PARTITIONS (a rebalancer's cleanup, which deletes keys
// no client writes any more), other writes only when they were never sent. A PUT or DELETE whose reply was lost
// may have been applied; sending it again could overwrite a later write of
// another client, so it is reported instead (ErrQuorum, with the node's
// ErrTimeout) and the caller decides.
func retryable(err error, op protocol.Op) bool {
	if !transportErr(err) {
		return false
	}
	switch op {
	case protocol.OpGetOne, protocol.OpGetAll, protocol.OpScan, protocol.OpStats, protocol.OpPing, protocol.OpSync,
		protocol.OpDigest, protocol.OpDeletePartitions:
		return true
	}
	return errors.Is(err, errNotSent)
}
