package node

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
)

// badInputs are messages (one or more frames) that must each get an error
// reply with the given code; the test node limits keys to 64 bytes, values
// to 256 and messages to 4096.
var badInputs = []struct {
	name   string
	frames []any
	code   protocol.Code
}{
	{"not json or msgpack", []any{"hello"}, protocol.CodeBadRequest},
	{"binary garbage", []any{[]byte{0x00, 0xff, 0xfe, 0x01, 0x02}}, protocol.CodeBadRequest},
	{"msgpack garbage", []any{[]byte{0x85, 0xc1, 0xc1, 0xff}}, protocol.CodeBadRequest},
	{"truncated msgpack", []any{[]byte{0x83, 0xa2, 'o', 'p', 0xa3, 'P', 'U'}}, protocol.CodeBadRequest},
	{"broken json", []any{`{"op":"PUT","key":"k","value":`}, protocol.CodeBadRequest},
	{"json array", []any{`[{"op":"PING"}]`}, protocol.CodeBadRequest},
	{"json string", []any{`"PING"`}, protocol.CodeBadRequest},
	{"json number", []any{` 12`}, protocol.CodeBadRequest},
	{"json null", []any{` null`}, protocol.CodeBadRequest},
	{"missing op", []any{`{"key":"k"}`}, protocol.CodeBadRequest},
	{"unknown op", []any{`{"op":"EXPLODE"}`}, protocol.CodeUnknownOp},
	{"op wrong type", []any{`{"op":["PUT"]}`}, protocol.CodeBadRequest},
	{"missing key", []any{`{"op":"GET_ONE"}`}, protocol.CodeBadRequest},
	{"empty key", []any{`{"op":"PUT","key":"","value":1}`}, protocol.CodeBadRequest},
	{"key not string", []any{`{"op":"PUT","key":42,"value":1}`}, protocol.CodeBadRequest},
	{"key null", []any{`{"op":"DELETE","key":null}`}, protocol.CodeBadRequest},
	{"missing value", []any{`{"op":"PUT","key":"k"}`}, protocol.CodeBadRequest},
	{"limit wrong type", []any{`{"op":"SCAN","limit":"all"}`}, protocol.CodeBadRequest},
	{"ops wrong type", []any{`{"op":"BATCH","ops":"PUT"}`}, protocol.CodeBadRequest},
	{"oversized key", []any{`{"op":"PUT","key":"` + strings.Repeat("k", 65) + `","value":1}`}, protocol.CodeTooLarge},
	{"oversized value", []any{`{"op":"PUT","key":"k","value":"` + strings.Repeat("v", 300) + `"}`}, protocol.CodeTooLarge},
	{"oversized message", []any{`{"op":"PING","pad":"` + strings.Repeat("p", 5000) + `"}`}, protocol.CodeTooLarge},
	{"multipart junk", []any{`{"op":"PING"}`, "junk", []byte{0xff}}, protocol.CodeBadRequest},
	{"empty message", []any{""}, protocol.CodeBadRequest},
	{"msgpack oversized key", []any{mustAppend(protocol.Request{Op: protocol.OpGetOne, Key: strings.Repeat("k", 65)})}, protocol.CodeTooLarge},
	{"msgpack missing value", []any{mustAppend(protocol.Request{Op: protocol.OpPut, Key: "k"})}, protocol.CodeBadRequest},
	{"raw value unknown codec", []any{`{"op":"PUT","key":"k","raw_value":"MQ==","value_codec":"yaml"}`}, protocol.CodeBadRequest},
	{"raw value without codec", []any{`{"op":"PUT","key":"k","raw_value":"MQ=="}`}, protocol.CodeBadRequest},
	{"raw value not base64", []any{`{"op":"PUT","key":"k","raw_value":"MQ=","value_codec":"json"}`}, protocol.CodeBadRequest},
	{"raw json value malformed", []any{`{"op":"PUT","key":"k","raw_value":"eyJhIjo=","value_codec":"json"}`}, protocol.CodeBadRequest},
	{"raw msgpack value truncated", []any{mustAppend(protocol.Request{Op: protocol.OpPut, Key: "k", Value: []byte{0xc4, 0x05, 0x01}, ValueCodec: protocol.Msgpack})}, protocol.CodeBadRequest},
	{"raw msgpack value 0xc1", []any{mustAppend(protocol.Request{Op: protocol.OpPut, Key: "k", Value: []byte{0xc1}, ValueCodec: protocol.Msgpack, IfAbsent: true})}, protocol.CodeBadRequest},
	{"raw value oversized", []any{mustAppend(protocol.Request{Op: protocol.OpPut, Key: "k", Value: []byte(`"` + strings.Repeat("v", 300) + `"`), ValueCodec: protocol.JSON})}, protocol.CodeTooLarge},
}

func mustAppend(r protocol.Request) []byte {
	b, err := protocol.AppendRequest(nil, protocol.Msgpack, &r)
	if err != nil {
		panic(err)
	}
	return b
}

var testLimits = protocol.Limits{MaxKeyBytes: 64, MaxValueBytes: 256, MaxMessageBytes: 4096}

// TestBadInputRequestEndpoint sends every bad input class, checks the error
// reply, then checks that a good request on the same socket succeeds.
func TestBadInputRequestEndpoint(t *testing.T) {
	n := startNode(t, Config{Limits: testLimits})
	for _, typ := range []zmq.Type{zmq.REQ, zmq.DEALER} {
		for _, tc := range badInputs {
			t.Run(fmt.Sprintf("%v/%s", typ, tc.name), func(t *testing.T) {
				s := socket(t, typ, n.RequestEndpoint())
				frames := tc.frames
				if typ == zmq.DEALER && tc.name == "empty message" {
					frames = []any{"", ""} // delimiter then an empty body
				}
				b := rawCall(t, s, frames...)
				rep, _, err := protocol.DecodeReply(b)
				require.NoError(t, err, "%q", b)
				mustErr(t, rep, tc.code)
				// Msgpack requests are answered in msgpack, everything
				// else in JSON.
				if first, ok := tc.frames[0].([]byte); ok && len(tc.frames) == 1 && first[0]&0xf0 == 0x80 && len(first) > 4 && !bytes.Equal(first[:2], []byte{0x85, 0xc1}) {
					require.NotEqual(t, byte('{'), b[0])
				}
				// A good request on the same socket succeeds.
				mustOK(t, call(t, s, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "after-" + tc.name, Value: []byte(`"ok"`)}))
				require.Equal(t, `"ok"`, string(mustOK(t, call(t, s, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: "after-" + tc.name})).Value))
			})
		}
	}
	st := n.Stats()
	require.EqualValues(t, 2*len(badInputs), st.Endpoints[EndpointRequest].Errors)
}

// TestDealerNoDelimiterEmpty covers a DEALER that sends a lone empty frame:
// the envelope is just its identity and the body is that empty frame.
func TestDealerEmptyFrame(t *testing.T) {
	n := startNode(t, Config{})
	d := socket(t, zmq.DEALER, n.RequestEndpoint())
	_, err := d.SendBytes(nil, 0)
	require.NoError(t, err)
	// [identity, ""]: the empty frame is read as a delimiter with no body.
	frames, err := d.RecvMessageBytes(0)
	require.NoError(t, err)
	rep, _, err := protocol.DecodeReply(frames[len(frames)-1])
	require.NoError(t, err)
	mustErr(t, rep, protocol.CodeBadRequest)
	mustOK(t, call(t, d, protocol.JSON, protocol.Request{Op: protocol.OpPing}))
}

// TestTransportLimitDropsPeerOnly: a message over TransportMaxBytes makes
// libzmq drop that connection; the node keeps serving everyone else.
func TestTransportLimitDropsPeerOnly(t *testing.T) {
	n := startNode(t, Config{Limits: testLimits, TransportMaxBytes: 8192})
	bad := socket(t, zmq.DEALER, n.RequestEndpoint())
	_, err := bad.SendBytes(bytes.Repeat([]byte{'{'}, 100000), 0)
	require.NoError(t, err)
	good := reqSocket(t, n)
	mustOK(t, call(t, good, protocol.JSON, protocol.Request{Op: protocol.OpPing}))
}

// TestClientGoneBeforeReply: clients that vanish with requests in flight
// (including a SYNC waiting for its token and a burst nobody reads) do not
// wedge the ROUTER.
func TestClientGoneBeforeReply(t *testing.T) {
	n := startNode(t, Config{})
	ctx, err := zmq.NewContext()
	require.NoError(t, err)
	for i := range 3 {
		s, err := ctx.NewSocket(zmq.DEALER)
		require.NoError(t, err)
		require.NoError(t, s.Connect(n.RequestEndpoint()))
		require.NoError(t, s.SetSndhwm(0))
		_, err = s.SendBytes([]byte(`{"op":"SYNC","token":"never","timeout_ms":1}`), 0)
		require.NoError(t, err)
		for j := range 5000 {
			_, err = s.SendBytes([]byte(fmt.Sprintf(`{"op":"PUT","key":"gone-%d-%d","value":1}`, i, j)), 0)
			require.NoError(t, err)
		}
		require.NoError(t, s.SetLinger(-1)) // deliver everything, then vanish
		require.NoError(t, s.Close())
	}
	require.NoError(t, ctx.Term())
	// libzmq may discard what a vanished peer sent but the node had not
	// read yet, so only liveness is asserted: the node answers new clients.
	req := reqSocket(t, n)
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "alive", Value: []byte("1")}))
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: "alive"}))
	push := pushSocket(t, n)
	syncIngest(t, push, req, "after-gone")
}

// TestBadInputIngestEndpoint pushes every bad input class to the PULL
// endpoint: each is counted in STATS, none stops the node, and good writes
// pushed after them are applied.
func TestBadInputIngestEndpoint(t *testing.T) {
	_, req, push := startWithClients(t, Config{Limits: testLimits})
	extra := []struct {
		name   string
		frames []any
	}{
		{"read op on ingest", []any{`{"op":"GET_ONE","key":"k"}`}},
		{"batch with a bad op", []any{`{"op":"BATCH","ops":[{"op":"PUT","key":"b1","value":1},{"op":"GET_ALL"}]}`}},
	}
	for _, tc := range badInputs {
		_, err := push.SendMessage(tc.frames...)
		require.NoError(t, err, tc.name)
	}
	for _, tc := range extra {
		_, err := push.SendMessage(tc.frames...)
		require.NoError(t, err, tc.name)
	}
	_, err := push.SendBytes([]byte(`{"op":"PUT","key":"good","value":"yes"}`), 0)
	require.NoError(t, err)
	syncIngest(t, push, req, "bad-ingest")

	rep := mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: "good"}))
	require.Equal(t, `"yes"`, string(rep.Value))
	// The valid op of the partly bad batch was applied.
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetOne, Key: "b1"}))
	st := mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpStats})).Stats
	require.EqualValues(t, len(badInputs)+len(extra), st.Endpoints[EndpointIngest].Errors)
	require.EqualValues(t, len(badInputs)+len(extra)+2, st.Endpoints[EndpointIngest].Messages)
	require.Positive(t, st.Errors[string(protocol.CodeTooLarge)])
	require.Positive(t, st.Errors[string(protocol.CodeUnknownOp)])
}
