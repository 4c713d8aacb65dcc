package protocol

// Version is the protocol version a node reports in its PING reply.
const Version = 1

// FeatureRaw is the PING feature of a node that speaks raw values: SCAN
// and DIGEST with "raw", PUT with "raw_value" and "value_codec".
const FeatureRaw = "raw"

// Reply statuses.
const (
	StatusOK    = "OK"
	StatusError = "error"
)

// Entry is one key and its raw value, in the codec of the message that
// carries it, or, in the reply to a SCAN with "raw", in Codec.
type Entry struct {
	Key   string
	Value []byte
	// Codec is the codec the value is stored in when it travels raw
	// ("raw_value" and "value_codec"); 0 means "value", in the codec of
	// the message.
	Codec Codec
}

// Stats is the body of a STATS reply.
type Stats struct {
	Node     string `json:"node" msgpack:"node"`
	UptimeMS int64  `json:"uptime_ms" msgpack:"uptime_ms"`
	// Keys and Bytes describe the store: the number of keys and the sum of
	// their key and value lengths.
	Keys  int64 `json:"keys" msgpack:"keys"`
	Bytes int64 `json:"bytes" msgpack:"bytes"`
	// Ops counts operations served by wire name, on both endpoints (an
	// operation inside a BATCH counts once for itself; the BATCH too).
	Ops map[string]uint64 `json:"ops" msgpack:"ops"`
	// Errors counts error outcomes by code, on both endpoints.
	Errors map[string]uint64 `json:"errors" msgpack:"errors"`
	// Endpoints has one entry per endpoint: "request" and "ingest".
	Endpoints map[string]EndpointStats `json:"endpoints" msgpack:"endpoints"`
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
	// Collection: GET_ALL and SCAN.
	Collection []Entry
	// Cursor continues a SCAN; "" when the scan is complete.
	Cursor string
	// Deleted: DELETE, whether the key existed.
	Deleted bool
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
// writes, errors; msgpack: GET_ONE, PUT, DELETE, SYNC, errors and BATCHes
// of those) are decoded by hand-written decoders whose strings and raw
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
