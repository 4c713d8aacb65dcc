package protocol_test

import (
	"strconv"
	"testing"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
)

// The cost of versions: the messages of api_bench_test.go that versions
// change, with them. (Kept apart from those benchmarks, which run
// unchanged against versions of the package older than the fields.)

var benchVersion = hlc.Version{Time: 0x018c6d4a3b2c0001, Writer: 0x9e3779b97f4a7c15}

func benchVersionRequests(c protocol.Codec) []benchRequest {
	ops := make([]protocol.Request, 128)
	for i := range ops {
		ops[i] = protocol.Request{Op: protocol.OpPut, Key: "user:" + strconv.Itoa(i), Value: benchValue(c)}
	}
	own := make([]protocol.Request, len(ops))
	for i, op := range ops {
		op.Version = benchVersion.Add(uint64(i))
		own[i] = op
	}
	return []benchRequest{
		{"get_versions", protocol.Request{Op: protocol.OpGetOne, Key: "user:000123456", ID: benchID(c), Versions: true}},
		{"put_version", protocol.Request{Op: protocol.OpPut, Key: "user:000123456", Value: benchValue(c), ID: benchID(c), Version: benchVersion}},
		{"batch128", protocol.Request{Op: protocol.OpBatch, Ops: ops}},
		{"batch128_base_version", protocol.Request{Op: protocol.OpBatch, Version: benchVersion, Ops: ops}},
		{"batch128_own_versions", protocol.Request{Op: protocol.OpBatch, Ops: own}},
	}
}

func benchVersionReplies(c protocol.Codec) []benchReply {
	val := benchValue(c)
	page := make([]protocol.Entry, 100)
	for i := range page {
		page[i] = protocol.Entry{Key: "user:" + strconv.Itoa(i), Value: val, Version: benchVersion.Add(uint64(i))}
		if i%10 == 9 {
			page[i] = protocol.Entry{Key: "user:" + strconv.Itoa(i), Deleted: true, Version: benchVersion.Add(uint64(i))}
		}
	}
	return []benchReply{
		{"get_version", protocol.Reply{Op: protocol.OpGetOne, Status: protocol.StatusOK, ID: benchID(c), Key: "user:000123456", Value: val, Version: benchVersion}},
		{"put_superseded", protocol.Reply{Op: protocol.OpPut, Status: protocol.StatusOK, ID: benchID(c), Superseded: true}},
		{"scan100_versions", protocol.Reply{Op: protocol.OpScan, Status: protocol.StatusOK, ID: benchID(c), Collection: page, Cursor: "00000000000000ffuser:99"}},
	}
}

func BenchmarkVersionsDecodeRequest(b *testing.B) {
	benchMessages(b, benchVersionRequests, requestName, func(b *testing.B, c protocol.Codec, m benchRequest) {
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

func BenchmarkVersionsAppendRequest(b *testing.B) {
	benchMessages(b, benchVersionRequests, requestName, func(b *testing.B, c protocol.Codec, m benchRequest) {
		buf := make([]byte, 0, 1<<16)
		for b.Loop() {
			var err error
			if buf, err = protocol.AppendRequest(buf[:0], c, &m.req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVersionsDecodeReply(b *testing.B) {
	benchMessages(b, benchVersionReplies, replyName, func(b *testing.B, c protocol.Codec, m benchReply) {
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

func BenchmarkVersionsAppendReply(b *testing.B) {
	benchMessages(b, benchVersionReplies, replyName, func(b *testing.B, c protocol.Codec, m benchReply) {
		buf := make([]byte, 0, 1<<16)
		for b.Loop() {
			var err error
			if buf, err = protocol.AppendReply(buf[:0], c, &m.rep); err != nil {
				b.Fatal(err)
			}
		}
	})
}
