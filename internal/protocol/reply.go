package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

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

// AppendReply appends r encoded in codec c to dst.
func AppendReply(dst []byte, c Codec, r *Reply) ([]byte, error) {
	w := writer{c: c, b: dst}
	if err := w.reply(r); err != nil {
		return dst, err
	}
	return w.b, nil
}

func (w *writer) reply(r *Reply) error {
	if r.Status == StatusError || r.Err != nil {
		e := r.Err
		if e == nil {
			e = &Error{Code: CodeInternal, Message: "unspecified error"}
		}
		n := 3
		if r.ID != nil {
			n++
		}
		w.openMap(n)
		w.key("status")
		w.str(StatusError)
		if r.ID != nil {
			w.key("id")
			w.raw(r.ID)
		}
		w.key("error")
		w.str(string(e.Code))
		w.key("message")
		w.str(e.Message)
		w.closeMap()
		return nil
	}
	n := 1
	if r.ID != nil {
		n++
	}
	switch r.Op {
	case OpGetOne, OpScan, OpPing, OpDeletePartitions:
		n += 2
	case OpGetAll, OpDelete, OpSync, OpStats, OpBatch, OpDigest:
		n++
	}
	if r.Op == OpPing && r.Features != nil {
		n++
	}
	w.openMap(n)
	w.key("status")
	w.str(StatusOK)
	if r.ID != nil {
		w.key("id")
		w.raw(r.ID)
	}
	switch r.Op {
	case OpGetOne:
		w.key("key")
		w.str(r.Key)
		w.key("value")
		w.raw(r.Value)
	case OpGetAll, OpScan:
		w.key("collection")
		w.openArray(len(r.Collection))
		for _, e := range r.Collection {
			if e.Codec != 0 {
				w.openMap(3)
				w.key("key")
				w.str(e.Key)
				w.key("raw_value")
				w.bytes(e.Value)
				w.key("value_codec")
				w.str(e.Codec.String())
				w.closeMap()
				continue
			}
			w.openMap(2)
			w.key("key")
			w.str(e.Key)
			w.key("value")
			w.raw(e.Value)
			w.closeMap()
		}
		w.closeArray()
		if r.Op == OpScan {
			w.key("cursor")
			w.str(r.Cursor)
		}
	case OpDelete:
		w.key("deleted")
		w.bool(r.Deleted)
	case OpDigest:
		w.key("digests")
		w.openArray(len(r.Digests))
		for _, d := range r.Digests {
			w.openArray(3)
			w.int(int64(d.Partition))
			w.uint(d.Keys)
			w.uint(d.Sum)
			w.closeArray()
		}
		w.closeArray()
	case OpDeletePartitions:
		w.key("count")
		w.int(int64(r.Count))
		w.key("cursor")
		w.str(r.Cursor)
	case OpSync:
		w.key("token")
		w.str(r.Token)
	case OpPing:
		w.key("node")
		w.str(r.Node)
		w.key("protocol")
		w.int(int64(r.Protocol))
		if r.Features != nil {
			w.key("features")
			w.openArray(len(r.Features))
			for _, f := range r.Features {
				w.str(f)
			}
			w.closeArray()
		}
	case OpStats:
		w.key("stats")
		var body []byte
		var err error
		if w.c == JSON {
			body, err = json.Marshal(r.Stats)
		} else {
			body, err = msgpack.Marshal(r.Stats)
		}
		if err != nil {
			return fmt.Errorf("protocol: encode stats: %w", err)
		}
		w.raw(body)
	case OpBatch:
		w.key("results")
		w.openArray(len(r.Results))
		for i := range r.Results {
			if err := w.reply(&r.Results[i]); err != nil {
				return err
			}
		}
		w.closeArray()
	}
	w.closeMap()
	return nil
}

// AppendRequest appends r encoded in codec c to dst. Raw fields (ID, Value)
// must already be encoded in c. Fields at their zero value are omitted.
func AppendRequest(dst []byte, c Codec, r *Request) ([]byte, error) {
	if !c.Valid() {
		return dst, fmt.Errorf("protocol: invalid codec %d", c)
	}
	if r.Op == OpInvalid || r.Op >= numOps {
		return dst, fmt.Errorf("protocol: invalid op %d", r.Op)
	}
	w := writer{c: c, b: dst}
	w.request(r)
	return w.b, nil
}

func (w *writer) request(r *Request) {
	n := 1
	for _, set := range [...]bool{r.ID != nil, r.Key != "", r.Value != nil, r.ValueCodec != 0, r.IfAbsent, r.Cursor != "", r.Limit != 0,
		r.HashFrom != 0, r.HashTo != 0, r.Partitions != 0, r.Bitmap != nil, r.Raw, r.Token != "", r.TimeoutMS != 0, r.Op == OpBatch} {
		if set {
			n++
		}
	}
	w.openMap(n)
	w.key("op")
	w.str(r.Op.String())
	if r.ID != nil {
		w.key("id")
		w.raw(r.ID)
	}
	if r.Key != "" {
		w.key("key")
		w.str(r.Key)
	}
	switch {
	case r.ValueCodec != 0:
		w.key("raw_value")
		w.bytes(r.Value)
		w.key("value_codec")
		w.str(r.ValueCodec.String())
	case r.Value != nil:
		w.key("value")
		w.raw(r.Value)
	}
	if r.IfAbsent {
		w.key("if_absent")
		w.bool(true)
	}
	if r.Cursor != "" {
		w.key("cursor")
		w.str(r.Cursor)
	}
	if r.Limit != 0 {
		w.key("limit")
		w.int(int64(r.Limit))
	}
	if r.HashFrom != 0 {
		w.key("hash_from")
		w.uint(r.HashFrom)
	}
	if r.HashTo != 0 {
		w.key("hash_to")
		w.uint(r.HashTo)
	}
	if r.Partitions != 0 {
		w.key("partitions")
		w.int(int64(r.Partitions))
	}
	if r.Bitmap != nil {
		w.key("bitmap")
		w.sep()
		w.b = appendBase64(w.b, w.c, r.Bitmap)
	}
	if r.Raw {
		w.key("raw")
		w.bool(true)
	}
	if r.Token != "" {
		w.key("token")
		w.str(r.Token)
	}
	if r.TimeoutMS != 0 {
		w.key("timeout_ms")
		w.int(int64(r.TimeoutMS))
	}
	if r.Op == OpBatch {
		w.key("ops")
		w.openArray(len(r.Ops))
		for i := range r.Ops {
			w.request(&r.Ops[i])
		}
		w.closeArray()
	}
	w.closeMap()
}

// wireReply mirrors a reply for the library decoders; Raw holds raw values.
type wireReply[Raw any] struct {
	Status     string `json:"status" msgpack:"status"`
	Error      string `json:"error" msgpack:"error"`
	Message    string `json:"message" msgpack:"message"`
	ID         Raw    `json:"id" msgpack:"id"`
	Key        string `json:"key" msgpack:"key"`
	Value      Raw    `json:"value" msgpack:"value"`
	Collection []struct {
		Key        string  `json:"key" msgpack:"key"`
		Value      Raw     `json:"value" msgpack:"value"`
		RawValue   Raw     `json:"raw_value" msgpack:"raw_value"`
		ValueCodec *string `json:"value_codec" msgpack:"value_codec"`
	} `json:"collection" msgpack:"collection"`
	Cursor   string      `json:"cursor" msgpack:"cursor"`
	Deleted  bool        `json:"deleted" msgpack:"deleted"`
	Token    string      `json:"token" msgpack:"token"`
	Node     string      `json:"node" msgpack:"node"`
	Protocol int         `json:"protocol" msgpack:"protocol"`
	Features []string    `json:"features" msgpack:"features"`
	Stats    *Stats      `json:"stats" msgpack:"stats"`
	Results  []Raw       `json:"results" msgpack:"results"`
	Digests  [][3]uint64 `json:"digests" msgpack:"digests"`
	Count    int         `json:"count" msgpack:"count"`
}

// DecodeReply decodes one reply message (for clients). JSON replies of
// the bulk read path (SCAN, DIGEST, ...) are decoded by a hand-written
// decoder whose strings and raw values alias msg, which must then not be
// modified while the reply is in use; everything else by the standard
// decoders.
func DecodeReply(msg []byte) (Reply, Codec, error) {
	c, err := Detect(msg)
	if err != nil {
		return Reply{}, 0, err
	}
	if c == JSON {
		if r, ok := fastJSONReply(msg); ok {
			return r, c, nil
		}
	}
	r, err := decodeReply(msg, c)
	return r, c, err
}

func decodeReply(msg []byte, c Codec) (Reply, error) {
	if c == JSON {
		var wr wireReply[json.RawMessage]
		if err := json.Unmarshal(msg, &wr); err != nil {
			return Reply{}, errorf(CodeBadRequest, "invalid JSON reply: %v", err)
		}
		return fromWire(wr, c, func(b json.RawMessage) []byte { return b })
	}
	var wr wireReply[msgpack.RawMessage]
	dec := msgpack.NewDecoder(bytes.NewReader(msg))
	if err := dec.Decode(&wr); err != nil {
		return Reply{}, errorf(CodeBadRequest, "invalid msgpack reply: %v", err)
	}
	return fromWire(wr, c, func(b msgpack.RawMessage) []byte { return b })
}

// rawEntry fills e from the encoded "raw_value" (nil when absent) and
// "value_codec" of a collection entry, which go together and replace
// "value".
func rawEntry(e *Entry, c Codec, raw []byte, codec *string) error {
	if raw == nil && codec == nil {
		return nil
	}
	if raw == nil || codec == nil || e.Value != nil {
		return errorf(CodeBadRequest, `an entry needs either "value" or both "raw_value" and "value_codec"`)
	}
	vc, err := parseValueCodec(*codec)
	if err != nil {
		return err
	}
	var b []byte
	if c == JSON {
		var s string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return errorf(CodeBadRequest, `"raw_value" must be a string`)
		}
		if b, err = decodeBase64("raw_value", []byte(s)); err != nil {
			return err
		}
	} else {
		rd := mpReader{b: raw}
		if b, err = rd.bin("raw_value"); err != nil {
			return err
		}
	}
	e.Value, e.Codec = b, vc
	return nil
}

func fromWire[Raw any](wr wireReply[Raw], c Codec, bytesOf func(Raw) []byte) (Reply, error) {
	r := Reply{
		Status: wr.Status, ID: bytesOf(wr.ID), Key: wr.Key, Value: bytesOf(wr.Value),
		Cursor: wr.Cursor, Deleted: wr.Deleted, Token: wr.Token, Node: wr.Node,
		Protocol: wr.Protocol, Features: wr.Features, Stats: wr.Stats,
	}
	if r.Status != StatusOK && r.Status != StatusError {
		return Reply{}, errorf(CodeBadRequest, "reply status %q is neither %q nor %q", r.Status, StatusOK, StatusError)
	}
	if r.Status == StatusError {
		r.Err = &Error{Code: Code(wr.Error), Message: wr.Message}
	}
	if wr.Collection != nil {
		r.Collection = make([]Entry, len(wr.Collection))
		for i, e := range wr.Collection {
			ent := Entry{Key: e.Key, Value: bytesOf(e.Value)}
			if err := rawEntry(&ent, c, bytesOf(e.RawValue), e.ValueCodec); err != nil {
				return Reply{}, err
			}
			r.Collection[i] = ent
		}
	}
	if wr.Digests != nil {
		r.Digests = make([]Digest, len(wr.Digests))
		for i, d := range wr.Digests {
			if d[0] >= MaxPartitions {
				return Reply{}, errorf(CodeBadRequest, "digest of partition %d", d[0])
			}
			r.Digests[i] = Digest{Partition: int(d[0]), Keys: d[1], Sum: d[2]}
		}
	}
	r.Count = wr.Count
	if wr.Results != nil {
		r.Results = make([]Reply, len(wr.Results))
		for i, raw := range wr.Results {
			sub, err := decodeReply(bytesOf(raw), c)
			if err != nil {
				return Reply{}, err
			}
			r.Results[i] = sub
		}
	}
	return r, nil
}
