package protocol_test

import (
	"fmt"

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
