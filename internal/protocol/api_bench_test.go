package protocol_test

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/zshard/zshard/internal/protocol"
)

// The benchmarks of the exported API, one sub-benchmark per codec and
// message: decoding requests and replies, encoding them. They use nothing
// but the exported API, so they run unchanged against older versions of
// the package for before/after comparisons.

var codecs = []protocol.Codec{protocol.JSON, protocol.Msgpack}

// benchValue is a 100-byte string value in codec c.
func benchValue(c protocol.Codec) []byte {
	if c == protocol.JSON {
		v := make([]byte, 100)
		for i := range v {
			v[i] = 'v'
		}
		v[0], v[99] = '"', '"'
		return v
	}
	v := []byte{0xd9, 98}
	for range 98 {
		v = append(v, 'v')
	}
	return v
}

// benchID is the request id 42 in codec c.
func benchID(c protocol.Codec) []byte {
	if c == protocol.JSON {
		return []byte("42")
	}
	return []byte{42}
}

func benchRequests(c protocol.Codec) []benchRequest {
	return []benchRequest{
		{"get", protocol.Request{Op: protocol.OpGetOne, Key: "user:000123456", ID: benchID(c)}},
		{"put", protocol.Request{Op: protocol.OpPut, Key: "user:000123456", Value: benchValue(c), ID: benchID(c)}},
		{"scan", protocol.Request{Op: protocol.OpScan, Cursor: "00000000000000ffuser:1", Limit: 1000, Partitions: 12, Bitmap: []byte{1, 8}, Raw: true}},
	}
}

func benchReplies(c protocol.Codec) []benchReply {
	val := benchValue(c)
	id := benchID(c)
	batch := make([]protocol.Reply, 16)
	for i := range batch {
		batch[i] = protocol.Reply{Op: protocol.OpGetOne, Status: protocol.StatusOK, Key: "user:" + strconv.Itoa(i), Value: val}
	}
	page := make([]protocol.Entry, 100)
	for i := range page {
		page[i] = protocol.Entry{Key: "user:" + strconv.Itoa(i), Value: val}
	}
	return []benchReply{
		{"get", protocol.Reply{Op: protocol.OpGetOne, Status: protocol.StatusOK, ID: id, Key: "user:000123456", Value: val}},
		{"put", protocol.Reply{Op: protocol.OpPut, Status: protocol.StatusOK, ID: id}},
		{"error", protocol.Reply{Status: protocol.StatusError, ID: id, Err: protocol.Errorf(protocol.CodeNotFound, "key %q not found", "user:000123456")}},
		{"batch16", protocol.Reply{Op: protocol.OpBatch, Status: protocol.StatusOK, ID: id, Results: batch}},
		{"scan100", protocol.Reply{Op: protocol.OpScan, Status: protocol.StatusOK, ID: id, Collection: page, Cursor: "00000000000000ffuser:99"}},
	}
}

// benchMessages runs one sub-benchmark per codec and message, timed by
// run.
func benchMessages[M any](b *testing.B, messages func(protocol.Codec) []M, name func(M) string, run func(b *testing.B, c protocol.Codec, m M)) {
	for _, c := range codecs {
		for _, m := range messages(c) {
			b.Run(fmt.Sprintf("%v/%s", c, name(m)), func(b *testing.B) {
				b.ReportAllocs()
				run(b, c, m)
			})
		}
	}
}

type benchRequest = struct {
	name string
	req  protocol.Request
}

type benchReply = struct {
	name string
	rep  protocol.Reply
}

func requestName(m benchRequest) string { return m.name }

func replyName(m benchReply) string { return m.name }

func BenchmarkDecodeRequest(b *testing.B) {
	benchMessages(b, benchRequests, requestName, func(b *testing.B, c protocol.Codec, m benchRequest) {
		msg, err := protocol.AppendRequest(nil, c, &m.req)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, _, err := protocol.DecodeRequest(msg, protocol.Limits{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecodeReply(b *testing.B) {
	benchMessages(b, benchReplies, replyName, func(b *testing.B, c protocol.Codec, m benchReply) {
		msg, err := protocol.AppendReply(nil, c, &m.rep)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			if _, _, err := protocol.DecodeReply(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendRequest(b *testing.B) {
	benchMessages(b, benchRequests, requestName, func(b *testing.B, c protocol.Codec, m benchRequest) {
		buf := make([]byte, 0, 4096)
		for b.Loop() {
			var err error
			if buf, err = protocol.AppendRequest(buf[:0], c, &m.req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkAppendReply(b *testing.B) {
	benchMessages(b, benchReplies, replyName, func(b *testing.B, c protocol.Codec, m benchReply) {
		buf := make([]byte, 0, 1<<16)
		for b.Loop() {
			var err error
			if buf, err = protocol.AppendReply(buf[:0], c, &m.rep); err != nil {
				b.Fatal(err)
			}
		}
	})
}
