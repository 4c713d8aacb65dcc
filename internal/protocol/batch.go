package protocol

import (
	"encoding/binary"
	"math"
)

// BatchBuilder appends PUT and DELETE operations straight into an encoded
// BATCH request, without building a Request per operation: the cheap way
// for a producer to fill ingest messages. The zero value is not usable;
// call NewBatchBuilder. A BatchBuilder is not safe for concurrent use.
type BatchBuilder struct {
	w     writer
	start int // offset of the ops array header
	n     int
}

// NewBatchBuilder starts an empty BATCH in codec c, appending to dst[:0].
func NewBatchBuilder(c Codec, dst []byte) *BatchBuilder {
	bb := &BatchBuilder{}
	bb.Reset(c, dst)
	return bb
}

// Reset starts a new empty BATCH in codec c, reusing dst[:0].
func (bb *BatchBuilder) Reset(c Codec, dst []byte) {
	bb.w = writer{c: c, b: dst[:0], comma: bb.w.comma[:0]}
	bb.n = 0
	bb.w.openMap(2)
	bb.w.key(fieldOp)
	bb.w.str(OpBatch.String())
	bb.w.key(fieldOps)
	if c == JSON {
		bb.w.openArray(0)
		return
	}
	// array32 header, count patched in Bytes.
	bb.start = len(bb.w.b)
	bb.w.sep()
	bb.w.b = append(bb.w.b, mpArray.h32, 0, 0, 0, 0)
}

// Put appends {"op":"PUT","key":key,"value":value}; value is the raw
// encoding of one value in the builder's codec.
func (bb *BatchBuilder) Put(key string, value []byte) {
	bb.op(OpPut, 3, key)
	bb.w.key(fieldValue)
	bb.w.raw(value)
	bb.w.closeMap()
}

// Delete appends {"op":"DELETE","key":key}.
func (bb *BatchBuilder) Delete(key string) {
	bb.op(OpDelete, 2, key)
	bb.w.closeMap()
}

// Sync appends a SYNC marker (ingest endpoint only),
// {"op":"SYNC","token":token}.
func (bb *BatchBuilder) Sync(token string) {
	bb.op(OpSync, 2, token)
	bb.w.closeMap()
}

// op opens the map of one operation of n fields and writes its "op" and
// the string field that names what it acts on ("key", or a SYNC's
// "token").
func (bb *BatchBuilder) op(op Op, n int, s string) {
	f := fieldKey
	if op == OpSync {
		f = fieldToken
	}
	bb.w.openMap(n)
	bb.w.key(fieldOp)
	bb.w.str(op.String())
	bb.w.key(f)
	bb.w.str(s)
	bb.n++
}

// Len returns the number of operations appended since the last Reset.
func (bb *BatchBuilder) Len() int { return bb.n }

// Size returns the encoded size so far.
func (bb *BatchBuilder) Size() int { return len(bb.w.b) + 2 }

// Bytes finishes the message and returns it. The builder must be Reset
// before it is used again.
func (bb *BatchBuilder) Bytes() []byte {
	if bb.w.c == JSON {
		bb.w.closeArray()
		bb.w.closeMap()
		return bb.w.b
	}
	n := min(bb.n, math.MaxUint32)
	binary.BigEndian.PutUint32(bb.w.b[bb.start+1:], uint32(n))
	return bb.w.b
}
