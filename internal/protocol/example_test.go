package protocol_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
)

// A class-lab PUT decoded and answered, and the same PUT in msgpack: the
// byte strings are the ones docs/PROTOCOL.md shows.
func Example() {
	req, codec, err := protocol.DecodeRequest([]byte(`{"op":"PUT","key":"k","value":"v"}`), protocol.Limits{})
	fmt.Println(req.Op, req.Key, string(req.Value), codec, err)

	reply, _ := protocol.AppendReply(nil, codec, &protocol.Reply{Op: req.Op, Status: protocol.StatusOK})
	fmt.Println(string(reply))

	msg, _ := protocol.AppendRequest(nil, protocol.Msgpack, &protocol.Request{Op: protocol.OpPut, Key: "k", Value: []byte{0xa1, 'v'}})
	fmt.Printf("% x\n", msg)
	reply, _ = protocol.AppendReply(nil, protocol.Msgpack, &protocol.Reply{Op: protocol.OpPut, Status: protocol.StatusOK})
	fmt.Printf("% x\n", reply)

	_, codec, err = protocol.DecodeRequest([]byte(`{"op":"GET_ONE"}`), protocol.Limits{})
	errReply, _ := protocol.AppendReply(nil, codec, &protocol.Reply{Status: protocol.StatusError, Err: protocol.AsError(err)})
	fmt.Println(string(errReply))
	// Output:
	// PUT k "v" json <nil>
	// {"status":"OK"}
	// 83 a2 6f 70 a3 50 55 54 a3 6b 65 79 a1 6b a5 76 61 6c 75 65 a1 76
	// 81 a6 73 74 61 74 75 73 a2 4f 4b
	// {"status":"error","error":"bad_request","message":"missing or empty \"key\""}
}

// A producer fills an ingest message with BatchBuilder.
func ExampleBatchBuilder() {
	bb := protocol.NewBatchBuilder(protocol.JSON, nil)
	bb.Put("a", []byte(`1`))
	bb.Delete("b")
	bb.Sync("t-1")
	fmt.Println(string(bb.Bytes()))
	// Output:
	// {"op":"BATCH","ops":[{"op":"PUT","key":"a","value":1},{"op":"DELETE","key":"b"},{"op":"SYNC","token":"t-1"}]}
}

// The partition-set operations of a rebalancer, in JSON: a SCAN of the
// keys of partitions 0 and 11 of 12 (bitmap bytes 0x01 0x08), their
// DIGESTs (key "g", in partition 0, holds "v"), and their deletion; the
// byte strings are the ones
// docs/PROTOCOL.md shows.
func Example_partitions() {
	set := []byte{0x01, 0x08}
	for _, req := range []protocol.Request{
		{Op: protocol.OpScan, Limit: 1000, Partitions: 12, Bitmap: set},
		{Op: protocol.OpDigest, Partitions: 12, Bitmap: set},
		{Op: protocol.OpDeletePartitions, Limit: 1000, Partitions: 12, Bitmap: set},
	} {
		msg, _ := protocol.AppendRequest(nil, protocol.JSON, &req)
		fmt.Println(string(msg))
	}
	scan := protocol.Reply{Op: protocol.OpScan, Status: protocol.StatusOK, Collection: []protocol.Entry{{Key: "g", Value: []byte(`"v"`)}}}
	reply, _ := protocol.AppendReply(nil, protocol.JSON, &scan)
	fmt.Println(string(reply))
	digest := protocol.Reply{Op: protocol.OpDigest, Status: protocol.StatusOK, Digests: []protocol.Digest{
		{Partition: 0, Keys: 1, Sum: protocol.EntryHash("g", []byte(`"v"`))},
	}}
	reply, _ = protocol.AppendReply(nil, protocol.JSON, &digest)
	fmt.Println(string(reply))
	reply, _ = protocol.AppendReply(nil, protocol.JSON, &protocol.Reply{Op: protocol.OpDeletePartitions, Status: protocol.StatusOK, Count: 1})
	fmt.Println(string(reply))
	// Output:
	// {"op":"SCAN","limit":1000,"partitions":12,"bitmap":"AQg="}
	// {"op":"DIGEST","partitions":12,"bitmap":"AQg="}
	// {"op":"DELETE_PARTITIONS","limit":1000,"partitions":12,"bitmap":"AQg="}
	// {"status":"OK","collection":[{"key":"g","value":"v"}],"cursor":""}
	// {"status":"OK","digests":[[0,1,13066539571574325176]]}
	// {"status":"OK","count":1,"cursor":""}
}

// The raw copy of a rebalancer, in JSON: key "g" (partition 0 of 12) holds
// the msgpack bin c4 02 ff 00, which has no JSON form. A raw SCAN returns
// its bytes and codec, a raw PUT stores them as they are, a raw DIGEST
// hashes them; the last line is the same PUT in msgpack. The byte strings
// are the ones docs/PROTOCOL.md shows.
func Example_raw() {
	bin := []byte{0xc4, 0x02, 0xff, 0x00}
	set := []byte{0x01, 0x08}
	scan := protocol.Request{Op: protocol.OpScan, Limit: 1000, Partitions: 12, Bitmap: set, Raw: true}
	msg, _ := protocol.AppendRequest(nil, protocol.JSON, &scan)
	fmt.Println(string(msg))
	reply, _ := protocol.AppendReply(nil, protocol.JSON, &protocol.Reply{Op: protocol.OpScan, Status: protocol.StatusOK,
		Collection: []protocol.Entry{{Key: "g", Value: bin, Codec: protocol.Msgpack}}})
	fmt.Println(string(reply))
	put := protocol.Request{Op: protocol.OpPut, Key: "g", Value: bin, ValueCodec: protocol.Msgpack, IfAbsent: true}
	msg, _ = protocol.AppendRequest(nil, protocol.JSON, &put)
	fmt.Println(string(msg))
	digest := protocol.Request{Op: protocol.OpDigest, Partitions: 12, Bitmap: set, Raw: true}
	msg, _ = protocol.AppendRequest(nil, protocol.JSON, &digest)
	fmt.Println(string(msg))
	reply, _ = protocol.AppendReply(nil, protocol.JSON, &protocol.Reply{Op: protocol.OpDigest, Status: protocol.StatusOK,
		Digests: []protocol.Digest{{Partition: 0, Keys: 1, Sum: protocol.RawEntryHash("g", protocol.Msgpack, bin)}}})
	fmt.Println(string(reply))
	msg, _ = protocol.AppendRequest(nil, protocol.Msgpack, &put)
	fmt.Printf("% x\n", msg)
	// Output:
	// {"op":"SCAN","limit":1000,"partitions":12,"bitmap":"AQg=","raw":true}
	// {"status":"OK","collection":[{"key":"g","raw_value":"xAL/AA==","value_codec":"msgpack"}],"cursor":""}
	// {"op":"PUT","key":"g","raw_value":"xAL/AA==","value_codec":"msgpack","if_absent":true}
	// {"op":"DIGEST","partitions":12,"bitmap":"AQg=","raw":true}
	// {"status":"OK","digests":[[0,1,15421784407777887698]]}
	// 85 a2 6f 70 a3 50 55 54 a3 6b 65 79 a1 67 a9 72 61 77 5f 76 61 6c 75 65 c4 04 c4 02 ff 00 ab 76 61 6c 75 65 5f 63 6f 64 65 63 a7 6d 73 67 70 61 63 6b a9 69 66 5f 61 62 73 65 6e 74 c3
}

// Write versions, in JSON: a PUT of key "k" at a version, an older PUT
// that the node answers as superseded, a GET_ONE that asks for the
// version, a versioned DELETE and the not_found that carries its
// tombstone's version, a SCAN with versions (key "g" holds "v"; "k" is a
// tombstone), a DIGEST with versions of partitions 0 and 11 of 12 (key
// "g" is in partition 0), and a BATCH with a base version whose DELETE
// gets the base advanced by its index and whose last PUT carries an older
// version of its own; then the versions of the BATCH's operations, and
// the first PUT and the second one's reply in msgpack. The exchange is the
// one docs/PROTOCOL.md §3.12 shows (TestProtocolDocShowsVersions).
func Example_versions() {
	for _, line := range versionsExchange() {
		fmt.Println(line)
	}
	// Output:
	// -> {"op":"PUT","key":"k","value":"v2","version":"018c6d4a3b2c00029e3779b97f4a7c15"}
	// <- {"status":"OK"}
	// -> {"op":"PUT","key":"k","value":"v1","version":"018c6d4a3b2b00019e3779b97f4a7c15"}
	// <- {"status":"OK","superseded":true}
	// -> {"op":"GET_ONE","key":"k","versions":true}
	// <- {"status":"OK","key":"k","value":"v2","version":"018c6d4a3b2c00029e3779b97f4a7c15"}
	// -> {"op":"DELETE","key":"k","version":"018c6d4a3b2c00039e3779b97f4a7c15"}
	// <- {"status":"OK","deleted":true}
	// -> {"op":"GET_ONE","key":"k","versions":true}
	// <- {"status":"error","error":"not_found","message":"key \"k\" not found","version":"018c6d4a3b2c00039e3779b97f4a7c15"}
	// -> {"op":"SCAN","limit":1000,"versions":true}
	// <- {"status":"OK","collection":[{"key":"g","value":"v","version":"018c6d4a3b2c00019e3779b97f4a7c15"},{"key":"k","deleted":true,"version":"018c6d4a3b2c00039e3779b97f4a7c15"}],"cursor":""}
	// -> {"op":"DIGEST","partitions":12,"bitmap":"AQg=","versions":true}
	// <- {"status":"OK","digests":[[0,1,4806880582900390540]]}
	// -> {"op":"BATCH","version":"018c6d4a3b2c00109e3779b97f4a7c15","ops":[{"op":"PUT","key":"a","value":1},{"op":"DELETE","key":"b"},{"op":"PUT","key":"k","value":3,"version":"018c6d4a3b2b00019e3779b97f4a7c15"}]}
	// <- {"status":"OK","results":[{"status":"OK"},{"status":"OK","deleted":false},{"status":"OK","superseded":true}]}
	// 0 018c6d4a3b2c00109e3779b97f4a7c15
	// 1 018c6d4a3b2c00119e3779b97f4a7c15
	// 2 018c6d4a3b2b00019e3779b97f4a7c15
	// 84 a2 6f 70 a3 50 55 54 a3 6b 65 79 a1 6b a5 76 61 6c 75 65 a2 76 32 a7 76 65 72 73 69 6f 6e d9 20 30 31 38 63 36 64 34 61 33 62 32 63 30 30 30 32 39 65 33 37 37 39 62 39 37 66 34 61 37 63 31 35
	// 82 a6 73 74 61 74 75 73 a2 4f 4b aa 73 75 70 65 72 73 65 64 65 64 c3
}

// versionsExchange returns the lines Example_versions prints: requests
// ("-> ") and replies ("<- ") in JSON, the versions of the BATCH's
// operations, then the first PUT and the second one's reply in msgpack
// (hex).
func versionsExchange() []string {
	v := func(s string) hlc.Version {
		ver, err := hlc.Parse(s)
		if err != nil {
			panic(err)
		}
		return ver
	}
	vg, v2, v1, vd := v("018c6d4a3b2c00019e3779b97f4a7c15"), v("018c6d4a3b2c00029e3779b97f4a7c15"),
		v("018c6d4a3b2b00019e3779b97f4a7c15"), v("018c6d4a3b2c00039e3779b97f4a7c15")
	base := v("018c6d4a3b2c00109e3779b97f4a7c15")
	var out []string
	show := func(prefix string, b []byte, err error) {
		if err != nil {
			panic(err)
		}
		out = append(out, prefix+string(b))
	}
	req := func(r protocol.Request) {
		b, err := protocol.AppendRequest(nil, protocol.JSON, &r)
		show("-> ", b, err)
	}
	rep := func(r protocol.Reply) {
		b, err := protocol.AppendReply(nil, protocol.JSON, &r)
		show("<- ", b, err)
	}

	req(protocol.Request{Op: protocol.OpPut, Key: "k", Value: []byte(`"v2"`), Version: v2})
	rep(protocol.Reply{Op: protocol.OpPut, Status: protocol.StatusOK})
	req(protocol.Request{Op: protocol.OpPut, Key: "k", Value: []byte(`"v1"`), Version: v1})
	rep(protocol.Reply{Op: protocol.OpPut, Status: protocol.StatusOK, Superseded: true})
	req(protocol.Request{Op: protocol.OpGetOne, Key: "k", Versions: true})
	rep(protocol.Reply{Op: protocol.OpGetOne, Status: protocol.StatusOK, Key: "k", Value: []byte(`"v2"`), Version: v2})
	req(protocol.Request{Op: protocol.OpDelete, Key: "k", Version: vd})
	rep(protocol.Reply{Op: protocol.OpDelete, Status: protocol.StatusOK, Deleted: true})
	req(protocol.Request{Op: protocol.OpGetOne, Key: "k", Versions: true})
	notFound := protocol.ErrorReply(protocol.Errorf(protocol.CodeNotFound, "key %q not found", "k"))
	notFound.Version = vd
	rep(notFound)
	req(protocol.Request{Op: protocol.OpScan, Limit: 1000, Versions: true})
	rep(protocol.Reply{Op: protocol.OpScan, Status: protocol.StatusOK, Collection: []protocol.Entry{
		{Key: "g", Value: []byte(`"v"`), Version: vg}, {Key: "k", Deleted: true, Version: vd}}})
	req(protocol.Request{Op: protocol.OpDigest, Partitions: 12, Bitmap: []byte{0x01, 0x08}, Versions: true})
	rep(protocol.Reply{Op: protocol.OpDigest, Status: protocol.StatusOK, Digests: []protocol.Digest{
		{Partition: 0, Keys: 1, Sum: protocol.VersionEntryHash("g", vg, false)}}})
	batch := protocol.Request{Op: protocol.OpBatch, Version: base, Ops: []protocol.Request{
		{Op: protocol.OpPut, Key: "a", Value: []byte(`1`)},
		{Op: protocol.OpDelete, Key: "b"},
		{Op: protocol.OpPut, Key: "k", Value: []byte(`3`), Version: v1},
	}}
	req(batch)
	rep(protocol.Reply{Op: protocol.OpBatch, Status: protocol.StatusOK, Results: []protocol.Reply{
		{Op: protocol.OpPut, Status: protocol.StatusOK},
		{Op: protocol.OpDelete, Status: protocol.StatusOK},
		{Op: protocol.OpPut, Status: protocol.StatusOK, Superseded: true},
	}})
	for i := range batch.Ops {
		out = append(out, fmt.Sprint(i, " ", batch.OpVersion(i)))
	}

	msg, _ := protocol.AppendRequest(nil, protocol.Msgpack, &protocol.Request{Op: protocol.OpPut, Key: "k", Value: []byte{0xa2, 'v', '2'}, Version: v2})
	out = append(out, fmt.Sprintf("% x", msg))
	reply, _ := protocol.AppendReply(nil, protocol.Msgpack, &protocol.Reply{Op: protocol.OpPut, Status: protocol.StatusOK, Superseded: true})
	out = append(out, fmt.Sprintf("% x", reply))
	return out
}

// TestProtocolDocShowsVersions checks that docs/PROTOCOL.md shows the
// exchange of Example_versions: each request and reply line as is, and
// the msgpack bytes.
func TestProtocolDocShowsVersions(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "PROTOCOL.md"))
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(string(doc)), " ")
	for _, line := range versionsExchange() {
		switch {
		case strings.HasPrefix(line, "-> "), strings.HasPrefix(line, "<- "):
			if !strings.Contains(string(doc), "\n"+line+"\n") {
				t.Errorf("docs/PROTOCOL.md does not show %s", line)
			}
		case len(line) > 40: // msgpack hex, which the document wraps
			if !strings.Contains(flat, line) {
				t.Errorf("docs/PROTOCOL.md does not show the msgpack %s", line)
			}
		}
	}
}
