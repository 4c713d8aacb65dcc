package protocol

import (
	"strings"

	"github.com/zshard/zshard/internal/hlc"
)

// Version is the protocol version a node reports in its PING reply.
const Version = 1

// The PING features: the optional additions to protocol v1 a node speaks.
const (
	// FeatureRaw is the PING feature of a node that speaks raw values:
	// SCAN and DIGEST with "raw", PUT with "raw_value" and "value_codec".
	FeatureRaw = "raw"
	// FeatureVersions is the PING feature of a node that speaks write
	// versions: PUT, DELETE and BATCH with "version", GET_ONE, SCAN and
	// DIGEST with "versions", replies with "version" and "superseded".
	FeatureVersions = "versions"
)

// Reply statuses.
const (
	StatusOK    = "OK"
	StatusError = "error"
)

// Entry is one key and its raw value, in the codec of the message that
// carries it, or, in the reply to a SCAN with "raw", in Codec; in the
// reply to a SCAN with "versions", also the value's version, or a
// tombstone: a deleted key, without value, and the version of its delete.
type Entry struct {
	Key   string
	Value []byte
	// Version is the version of the value or tombstone ("version"); zero
	// when the reply has none.
	Version hlc.Version
	// Codec is the codec the value is stored in when it travels raw
	// ("raw_value" and "value_codec"); 0 means "value", in the codec of
	// the message.
	Codec Codec
	// Deleted marks a tombstone ("deleted": true): the key was deleted,
	// at Version; it has no Value.
	Deleted bool
}

// Stats is the body of a STATS reply.
type Stats struct {
	Node     string `json:"node" msgpack:"node"`
	UptimeMS int64  `json:"uptime_ms" msgpack:"uptime_ms"`
	// Keys and Bytes describe the store: the number of keys and the sum of
	// their key and value lengths.
	Keys  int64 `json:"keys" msgpack:"keys"`
	Bytes int64 `json:"bytes" msgpack:"bytes"`
	// Tombstones is the number of deleted keys whose tombstone the store
	// keeps (docs/PROTOCOL.md §3.12); not counted in Keys or Bytes. Absent
	// (0) from a node older than the field.
	Tombstones int64 `json:"tombstones" msgpack:"tombstones"`
	// Ops counts operations served by wire name, on both endpoints (an
	// operation inside a BATCH counts once for itself; the BATCH too).
	Ops map[string]uint64 `json:"ops" msgpack:"ops"`
	// Errors counts error outcomes by code, on both endpoints.
	Errors map[string]uint64 `json:"errors" msgpack:"errors"`
	// Endpoints has one entry per endpoint: "request" and "ingest".
	Endpoints map[string]EndpointStats `json:"endpoints" msgpack:"endpoints"`
	// Curve is present only on a node that runs CURVE (docs/SECURITY.md).
	Curve *CurveStats `json:"curve,omitempty" msgpack:"curve,omitempty"`
	// Memory describes the node's memory budget for replies. Absent (nil)
	// from a node older than the field.
	Memory *MemoryStats `json:"memory,omitempty" msgpack:"memory,omitempty"`
}

// CurveStats counts what a CURVE node refused.
type CurveStats struct {
	// Refused counts refused connections and messages: clients whose key
	// is not allowed, plaintext clients, handshakes with a wrong server key,
	// and messages from a key removed from the allowlist since it connected.
	Refused uint64 `json:"refused" msgpack:"refused"`
	// Forbidden counts operations refused to a key that is allowed but not
	// an admin (error "forbidden").
	Forbidden uint64 `json:"forbidden" msgpack:"forbidden"`
	// Keys is how many client keys the allowlist admits now.
	Keys int `json:"keys" msgpack:"keys"`
}

// MemoryStats describes a node's memory budget (docs/PROTOCOL.md §3.8).
type MemoryStats struct {
	// BudgetBytes is the budget: the most bytes of replies being built or
	// handed to the transport and not yet sent.
	BudgetBytes int64 `json:"budget_bytes" msgpack:"budget_bytes"`
	// InUseBytes is how much of it is in use now.
	InUseBytes int64 `json:"in_use_bytes" msgpack:"in_use_bytes"`
	// PeakBytes is the most in use at once since the node started.
	PeakBytes int64 `json:"peak_bytes" msgpack:"peak_bytes"`
	// Rejected counts the requests answered busy because the budget, or
	// the peer's share of it, was spent.
	Rejected uint64 `json:"rejected" msgpack:"rejected"`
}

// EndpointStats counts the traffic of one endpoint.
type EndpointStats struct {
	Messages uint64 `json:"messages" msgpack:"messages"`
	Bytes    uint64 `json:"bytes" msgpack:"bytes"`
	Errors   uint64 `json:"errors" msgpack:"errors"`
}

// Reply is one reply. Op selects which fields are written by AppendReply
// (it is not itself on the wire); DecodeReply leaves it OpInvalid and fills
// whatever fields the message has.
type Reply struct {
	Op     Op
	Status string // StatusOK or StatusError
	// Err is set for error replies (Status == StatusError).
	Err *Error
	// ID echoes the request's raw "id" (same codec) when it had one.
	ID []byte
	// Key and Value: GET_ONE.
	Key   string
	Value []byte
	// Version: GET_ONE with "versions", the version of the value; in its
	// not_found error, that of the key's tombstone. Zero when there is
	// none, and then not written.
	Version hlc.Version
	// Collection: GET_ALL and SCAN.
	Collection []Entry
	// Cursor continues a SCAN; "" when the scan is complete.
	Cursor string
	// Deleted: DELETE, whether the key existed.
	Deleted bool
	// Superseded: PUT and DELETE with a version (also as BATCH results),
	// the write was not applied because the node holds a newer version
	// of the key; the status is still StatusOK.
	Superseded bool
	// Token: SYNC.
	Token string
	// Node, Protocol and Features: PING. Features lists the optional
	// additions to protocol v1 the node speaks (FeatureRaw); nil from a
	// node older than the field.
	Node     string
	Protocol int
	Features []string
	// Stats: STATS.
	Stats *Stats
	// Results: BATCH, one reply per operation, in order.
	Results []Reply
	// Digests: DIGEST, one per partition holding keys, by partition.
	Digests []Digest
	// Count: DELETE_PARTITIONS, the keys deleted.
	Count int
}

// ErrorReply returns the error reply for err (an *Error, or anything else
// as CodeInternal).
func ErrorReply(err error) Reply {
	return Reply{Status: StatusError, Err: AsError(err)}
}

// DecodeReply decodes one reply message (for clients). The replies
// clients read most (JSON: SCAN, GET_ALL and DIGEST pages, GET_ONE,
// writes, errors and BATCHes of those; msgpack: the same but DIGEST) are
// decoded by hand-written decoders whose strings and raw
// values alias msg, which must then not be modified while the reply is in
// use; everything else by the standard decoders (decodeReply), with the
// same result.
func DecodeReply(msg []byte) (Reply, Codec, error) {
	c, err := Detect(msg)
	if err != nil {
		return Reply{}, 0, err
	}
	// Each fast decoder's result is returned where it is made: a Reply is
	// large, and one variable for both made every call copy it twice.
	if c == JSON {
		if r, ok := fastJSONReply(msg); ok {
			return r, c, nil
		}
	} else if r, ok := fastMsgpackReply(msg); ok {
		return r, c, nil
	}
	r, err := decodeReply(msg, c)
	return r, c, err
}

// ownCode returns c as a string of its own: the constant when c is a code
// of this protocol (no allocation for the not_found of every missing key),
// else a copy. The hand-written reply decoders use it, since an error
// outlives the message it came in.
func ownCode(c Code) Code {
	for _, k := range Codes {
		if c == k {
			return k
		}
	}
	if c == CodeForbidden {
		return CodeForbidden
	}
	return Code(strings.Clone(string(c)))
}
