package repair

import (
	"context"

	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
)

// Caller sends one request to the node named node on its request endpoint
// and returns the reply. An error reply, or no reply, is an error; the
// repair then skips that node for the rest of its run and reports it.
// Codec is the codec the Caller encodes requests in: a raw SCAN reply
// carries the values stored in that codec as plain "value"s (§3.10), and
// the repair writes them back as such.
//
// A Caller is used by several goroutines at once: one per node.
type Caller interface {
	Call(ctx context.Context, node string, req protocol.Request) (protocol.Reply, error)
	Codec() protocol.Codec
}

var (
	_ Caller = (*producer.Producer)(nil)
	_ Caller = (*NodeCaller)(nil)
)
