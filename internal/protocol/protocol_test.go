package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/zshard/zshard/internal/hlc"
)

// testVersion is a version as a node's clock issues them.
var testVersion = hlc.Version{Time: 0x018c6d4a3b2c0001, Writer: 0x9e3779b97f4a7c15}

// tombstoneNotFound is the not_found reply to a GET_ONE with versions of
// key, deleted at version v.
func tombstoneNotFound(key string, v hlc.Version) Reply {
	r := ErrorReply(Errorf(CodeNotFound, "key %q not found", key))
	r.Version = v
	return r
}

func mp(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	require.NoError(t, enc.Encode(v))
	return buf.Bytes()
}

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want Codec
		ok   bool
	}{
		{[]byte(`{"op":"PING"}`), JSON, true},
		{[]byte(" \n\t\r{}"), JSON, true},
		{[]byte{0x80}, Msgpack, true},
		{[]byte{0x8f}, Msgpack, true},
		{[]byte{0xde, 0, 0}, Msgpack, true},
		{[]byte{0xdf, 0, 0, 0, 0}, Msgpack, true},
		{nil, 0, false},
		{[]byte(`[1]`), 0, false},
		{[]byte(`"x"`), 0, false},
		{[]byte{0x90}, 0, false},
		{[]byte{0xff, 0x00}, 0, false},
	} {
		c, err := Detect(tc.in)
		if !tc.ok {
			require.Error(t, err, "%q", tc.in)
			require.Equal(t, CodeBadRequest, AsError(err).Code)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.want, c)
	}
}

func TestDecodeRequestGood(t *testing.T) {
	type kv = map[string]any
	for _, tc := range []struct {
		name string
		msg  kv
		want Request
	}{
		{"put", kv{"op": "PUT", "key": "k", "value": "v"}, Request{Op: OpPut, Key: "k"}},
		{"get", kv{"op": "GET_ONE", "key": "k"}, Request{Op: OpGetOne, Key: "k"}},
		{"getall", kv{"op": "GET_ALL"}, Request{Op: OpGetAll}},
		{"delete", kv{"op": "DELETE", "key": "k"}, Request{Op: OpDelete, Key: "k"}},
		{"scan", kv{"op": "SCAN", "cursor": "c", "limit": 10, "hash_from": 5, "hash_to": uint64(1) << 63}, Request{Op: OpScan, Cursor: "c", Limit: 10, HashFrom: 5, HashTo: 1 << 63}},
		{"sync", kv{"op": "SYNC", "token": "t", "timeout_ms": 50}, Request{Op: OpSync, Token: "t", TimeoutMS: 50}},
		{"ping unknown fields ignored", kv{"op": "PING", "future": []any{1, 2}, "x": kv{"y": 1}}, Request{Op: OpPing}},
		{"stats", kv{"op": "STATS"}, Request{Op: OpStats}},
		{"unicode key", kv{"op": "GET_ONE", "key": "clé-日本"}, Request{Op: OpGetOne, Key: "clé-日本"}},
		{"put version", kv{"op": "PUT", "key": "k", "value": 1, "version": testVersion.String()}, Request{Op: OpPut, Key: "k", Version: testVersion}},
		{"put version upper case", kv{"op": "PUT", "key": "k", "value": 1, "version": strings.ToUpper(testVersion.String())},
			Request{Op: OpPut, Key: "k", Version: testVersion}},
		{"put zero version", kv{"op": "PUT", "key": "k", "value": 1, "version": hlc.Version{}.String()}, Request{Op: OpPut, Key: "k"}},
		{"delete version", kv{"op": "DELETE", "key": "k", "version": testVersion.String()}, Request{Op: OpDelete, Key: "k", Version: testVersion}},
		{"get versions", kv{"op": "GET_ONE", "key": "k", "versions": true}, Request{Op: OpGetOne, Key: "k", Versions: true}},
		{"get versions false", kv{"op": "GET_ONE", "key": "k", "versions": false}, Request{Op: OpGetOne, Key: "k"}},
		{"scan versions", kv{"op": "SCAN", "versions": true, "raw": true}, Request{Op: OpScan, Versions: true, Raw: true}},
		{"digest versions", kv{"op": "DIGEST", "versions": true, "partitions": 8, "bitmap": "AQ=="},
			Request{Op: OpDigest, Versions: true, Partitions: 8, Bitmap: []byte{1}}},
		{"batch base version", kv{"op": "BATCH", "version": testVersion.String(), "ops": []any{
			kv{"op": "DELETE", "key": "a"}, kv{"op": "DELETE", "key": "b", "version": testVersion.Add(7).String()},
			kv{"op": "GET_ONE", "key": "c", "versions": true}}},
			Request{Op: OpBatch, Version: testVersion, Ops: []Request{
				{Op: OpDelete, Key: "a"}, {Op: OpDelete, Key: "b", Version: testVersion.Add(7)}, {Op: OpGetOne, Key: "c", Versions: true}}}},
	} {
		for _, c := range []Codec{JSON, Msgpack} {
			t.Run(tc.name+"/"+c.String(), func(t *testing.T) {
				var msg []byte
				if c == JSON {
					msg, _ = json.Marshal(tc.msg)
				} else {
					msg = mp(t, tc.msg)
				}
				r, gotC, err := DecodeRequest(msg, Limits{})
				require.NoError(t, err)
				require.Equal(t, c, gotC)
				r.Value = nil
				require.Equal(t, tc.want, r)
			})
		}
	}
}

func TestDecodeKeepsRawValue(t *testing.T) {
	msg := []byte(`{"op":"PUT","key":"k","value": {"b": [1, 2.50, "x"],  "a":null} ,"id":7}`)
	r, _, err := DecodeRequest(msg, Limits{})
	require.NoError(t, err)
	require.Equal(t, `{"b": [1, 2.50, "x"],  "a":null}`, string(r.Value))
	require.Equal(t, `7`, string(r.ID))

	val := mp(t, map[string]any{"z": []any{1, "two", 3.5}, "a": nil})
	msg = mp(t, map[string]any{"op": "PUT", "key": "k", "value": msgpack.RawMessage(val)})
	r, _, err = DecodeRequest(msg, Limits{})
	require.NoError(t, err)
	require.Equal(t, val, r.Value)
}

func TestDecodeBatch(t *testing.T) {
	for _, c := range []Codec{JSON, Msgpack} {
		req := Request{Op: OpBatch, Ops: []Request{
			{Op: OpPut, Key: "a", Value: enc(t, c, "1")},
			{Op: OpDelete, Key: "b"},
			{Op: OpGetOne, Key: "a"},
		}}
		msg, err := AppendRequest(nil, c, &req)
		require.NoError(t, err)
		got, gotC, err := DecodeRequest(msg, Limits{})
		require.NoError(t, err)
		require.Equal(t, c, gotC)
		require.Equal(t, req, got)
	}
}

func enc(t testing.TB, c Codec, v any) []byte {
	if c == JSON {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return b
	}
	return mp(t, v)
}

func TestDecodeRequestBad(t *testing.T) {
	lim := Limits{MaxKeyBytes: 8, MaxValueBytes: 16, MaxMessageBytes: 256, MaxBatchOps: 2, MaxScanLimit: 100}
	type kv = map[string]any
	for _, tc := range []struct {
		name string
		msg  any // []byte is sent as is; anything else is encoded in both codecs
		code Code
	}{
		{"empty", []byte{}, CodeBadRequest},
		{"garbage", []byte{0x00, 0xff, 0x13, 0x37}, CodeBadRequest},
		{"json array", []byte(`[{"op":"PING"}]`), CodeBadRequest},
		{"json string", []byte(`"PING"`), CodeBadRequest},
		{"json null with space", []byte(` null`), CodeBadRequest},
		{"json number with space", []byte(" 42"), CodeBadRequest},
		{"broken json", []byte(`{"op":"PUT","key":`), CodeBadRequest},
		{"trailing json", []byte(`{"op":"PING"} {}`), CodeBadRequest},
		{"truncated msgpack", []byte{0x83, 0xa2, 'o', 'p'}, CodeBadRequest},
		{"msgpack trailing", []byte{0x81, 0xa2, 'o', 'p', 0xa4, 'P', 'I', 'N', 'G', 0xc0}, CodeBadRequest},
		{"msgpack huge map claim", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}, CodeBadRequest},
		{"msgpack 0xc1", []byte{0x81, 0xa1, 'x', 0xc1}, CodeBadRequest},
		{"oversized message", []byte(`{"op":"PING","pad":"` + strings.Repeat("x", 300) + `"}`), CodeTooLarge},
		{"invalid utf8 key json", []byte("{\"op\":\"GET_ONE\",\"key\":\"\xff\"}"), CodeBadRequest},
		{"invalid utf8 key msgpack", []byte{0x82, 0xa2, 'o', 'p', 0xa7, 'G', 'E', 'T', '_', 'O', 'N', 'E', 0xa3, 'k', 'e', 'y', 0xa1, 0xff}, CodeBadRequest},
		{"missing op", kv{"key": "k"}, CodeBadRequest},
		{"op not string", kv{"op": 1}, CodeBadRequest},
		{"op null", kv{"op": nil}, CodeBadRequest},
		{"unknown op", kv{"op": "FROB"}, CodeUnknownOp},
		{"lowercase op", kv{"op": "put", "key": "k", "value": 1}, CodeUnknownOp},
		{"missing key", kv{"op": "GET_ONE"}, CodeBadRequest},
		{"empty key", kv{"op": "PUT", "key": "", "value": 1}, CodeBadRequest},
		{"key not string", kv{"op": "DELETE", "key": 12}, CodeBadRequest},
		{"key list", kv{"op": "GET_ONE", "key": []any{"a"}}, CodeBadRequest},
		{"missing value", kv{"op": "PUT", "key": "k"}, CodeBadRequest},
		{"oversized key", kv{"op": "PUT", "key": "123456789", "value": 1}, CodeTooLarge},
		{"oversized value", kv{"op": "PUT", "key": "k", "value": strings.Repeat("v", 20)}, CodeTooLarge},
		{"limit not int", kv{"op": "SCAN", "limit": "ten"}, CodeBadRequest},
		{"limit negative", kv{"op": "SCAN", "limit": -1}, CodeBadRequest},
		{"limit too big", kv{"op": "SCAN", "limit": 1000}, CodeTooLarge},
		{"cursor not string", kv{"op": "SCAN", "cursor": 3}, CodeBadRequest},
		{"hash range empty", kv{"op": "SCAN", "hash_from": 10, "hash_to": 10}, CodeBadRequest},
		{"hash negative", kv{"op": "SCAN", "hash_from": -1}, CodeBadRequest},
		{"sync no token", kv{"op": "SYNC"}, CodeBadRequest},
		{"sync token number", kv{"op": "SYNC", "token": 5}, CodeBadRequest},
		{"batch no ops", kv{"op": "BATCH"}, CodeBadRequest},
		{"batch ops not array", kv{"op": "BATCH", "ops": kv{"op": "PING"}}, CodeBadRequest},
		{"batch too many", kv{"op": "BATCH", "ops": []any{kv{"op": "PING"}, kv{"op": "PING"}, kv{"op": "PING"}}}, CodeTooLarge},
		{"batch nested", kv{"op": "BATCH", "ops": []any{kv{"op": "BATCH", "ops": []any{}}}}, CodeBadRequest},
		{"batch bad element", kv{"op": "BATCH", "ops": []any{kv{"op": "PUT", "key": "k"}}}, CodeBadRequest},
		{"batch element not map", kv{"op": "BATCH", "ops": []any{"PING"}}, CodeBadRequest},
		{"batch element with id", kv{"op": "BATCH", "ops": []any{kv{"op": "PING", "id": 1}}}, CodeBadRequest},
		{"oversized id", kv{"op": "PING", "id": strings.Repeat("i", 300)}, CodeTooLarge},
		{"raw value unknown codec", kv{"op": "PUT", "key": "k", "raw_value": []byte("1"), "value_codec": "xml"}, CodeBadRequest},
		{"raw value codec not string", kv{"op": "PUT", "key": "k", "raw_value": []byte("1"), "value_codec": 1}, CodeBadRequest},
		{"raw value without codec", kv{"op": "PUT", "key": "k", "raw_value": []byte("1")}, CodeBadRequest},
		{"value codec without raw value", kv{"op": "PUT", "key": "k", "value": 1, "value_codec": "json"}, CodeBadRequest},
		{"value and raw value", kv{"op": "PUT", "key": "k", "value": 1, "raw_value": []byte("1"), "value_codec": "json"}, CodeBadRequest},
		{"raw value not bytes", kv{"op": "PUT", "key": "k", "raw_value": 1, "value_codec": "json"}, CodeBadRequest},
		{"raw json malformed", kv{"op": "PUT", "key": "k", "raw_value": []byte(`{"a":`), "value_codec": "json"}, CodeBadRequest},
		{"raw json spaced", kv{"op": "PUT", "key": "k", "raw_value": []byte(` 1`), "value_codec": "json"}, CodeBadRequest},
		{"raw json two values", kv{"op": "PUT", "key": "k", "raw_value": []byte(`1 2`), "value_codec": "json"}, CodeBadRequest},
		{"raw json empty", kv{"op": "PUT", "key": "k", "raw_value": []byte{}, "value_codec": "json"}, CodeBadRequest},
		{"raw msgpack truncated", kv{"op": "PUT", "key": "k", "raw_value": []byte{0xc4, 0x02, 0xff}, "value_codec": "msgpack"}, CodeBadRequest},
		{"raw msgpack two objects", kv{"op": "PUT", "key": "k", "raw_value": []byte{0x01, 0x02}, "value_codec": "msgpack"}, CodeBadRequest},
		{"raw msgpack 0xc1", kv{"op": "PUT", "key": "k", "raw_value": []byte{0xc1}, "value_codec": "msgpack"}, CodeBadRequest},
		{"raw value too large", kv{"op": "PUT", "key": "k", "raw_value": []byte(strings.Repeat("1", 17)), "value_codec": "json"}, CodeTooLarge},
		{"raw batch element malformed", kv{"op": "BATCH", "ops": []any{kv{"op": "PUT", "key": "k", "raw_value": []byte{0x91}, "value_codec": "msgpack", "if_absent": true}}}, CodeBadRequest},
		{"raw not bool", kv{"op": "SCAN", "raw": 1}, CodeBadRequest},
		{"version short", kv{"op": "PUT", "key": "k", "value": 1, "version": "0123"}, CodeBadRequest},
		{"version not hex", kv{"op": "DELETE", "key": "k", "version": strings.Repeat("g", 32)}, CodeBadRequest},
		{"version not string", kv{"op": "PUT", "key": "k", "value": 1, "version": 7}, CodeBadRequest},
		{"version on get", kv{"op": "GET_ONE", "key": "k", "version": testVersion.String()}, CodeBadRequest},
		{"version on scan", kv{"op": "SCAN", "version": testVersion.String()}, CodeBadRequest},
		{"version on sync", kv{"op": "SYNC", "token": "t", "version": testVersion.String()}, CodeBadRequest},
		{"versions on put", kv{"op": "PUT", "key": "k", "value": 1, "versions": true}, CodeBadRequest},
		{"versions on get all", kv{"op": "GET_ALL", "versions": true}, CodeBadRequest},
		{"versions on batch", kv{"op": "BATCH", "versions": true, "ops": []any{}}, CodeBadRequest},
		{"versions not bool", kv{"op": "SCAN", "versions": "true"}, CodeBadRequest},
		{"batch version malformed", kv{"op": "BATCH", "version": "x", "ops": []any{}}, CodeBadRequest},
		{"batch item version malformed", kv{"op": "BATCH", "ops": []any{kv{"op": "PUT", "key": "k", "value": 1, "version": "x"}}}, CodeBadRequest},
		{"batch item version on get", kv{"op": "BATCH", "ops": []any{kv{"op": "GET_ONE", "key": "k", "version": testVersion.String()}}}, CodeBadRequest},
	} {
		codecs := []Codec{JSON, Msgpack}
		if _, raw := tc.msg.([]byte); raw {
			codecs = []Codec{0}
		}
		for _, c := range codecs {
			t.Run(tc.name+"/"+c.String(), func(t *testing.T) {
				msg, raw := tc.msg.([]byte)
				if !raw {
					msg = enc(t, c, tc.msg)
				}
				l := lim
				if tc.name == "oversized id" {
					l.MaxMessageBytes = 0
				}
				_, _, err := DecodeRequest(msg, l)
				require.Error(t, err)
				pe, ok := err.(*Error)
				require.True(t, ok, "%T", err)
				require.Equal(t, tc.code, pe.Code, pe.Message)
				require.NotEmpty(t, pe.Message)
			})
		}
	}
}

// TestRawRequests: raw values and raw reads survive an encode/decode round
// trip in both request codecs, whatever the value's codec, and a raw PUT
// is told apart from a plain one.
func TestRawRequests(t *testing.T) {
	values := []struct {
		c Codec
		v []byte
	}{
		{Msgpack, []byte{0xc4, 0x02, 0xff, 0x00}},                                // bin: no JSON form
		{Msgpack, []byte{0x81, 0x01, 0xa1, 'x'}},                                 // map with an integer key
		{Msgpack, []byte{0xcd, 0x00, 0x01}},                                      // 1 as uint16
		{JSON, []byte(`123456789012345678901234567890`)},                         // beyond msgpack
		{JSON, []byte(`{"b": [1, 2.50],  "a":null}`)},                            // inner whitespace kept
		{Msgpack, bytes.Repeat([]byte{0xc0}, 1)},                                 // nil
		{JSON, []byte(`"` + strings.Repeat("x", 70000) + `"`)},                   // a bin32 in msgpack
		{Msgpack, append([]byte{0xda, 0x01, 0x2c}, strings.Repeat("y", 300)...)}, // str16
	}
	for _, c := range []Codec{JSON, Msgpack} {
		for i, v := range values {
			t.Run(fmt.Sprintf("%v/%d", c, i), func(t *testing.T) {
				put := Request{Op: OpPut, Key: "k", Value: v.v, ValueCodec: v.c, IfAbsent: true}
				for _, req := range []Request{put, {Op: OpBatch, Ops: []Request{put, {Op: OpDelete, Key: "d"}}}} {
					msg, err := AppendRequest(nil, c, &req)
					require.NoError(t, err)
					got, gotC, err := DecodeRequest(msg, Limits{})
					require.NoError(t, err, "%q", msg)
					require.Equal(t, c, gotC)
					require.True(t, requestsIdentical(req, got), "%q:\n%#v\n%#v", msg, req, got)
				}
			})
		}
		for _, req := range []Request{
			{Op: OpScan, Raw: true, Limit: 10, Partitions: 12, Bitmap: []byte{1, 8}},
			{Op: OpDigest, Raw: true, Partitions: 12, Bitmap: []byte{1, 8}},
		} {
			msg, err := AppendRequest(nil, c, &req)
			require.NoError(t, err)
			got, _, err := DecodeRequest(msg, Limits{})
			require.NoError(t, err)
			require.Equal(t, req, got)
		}
	}
	// A plain PUT whose value happens to be a string is not a raw one.
	r, _, err := DecodeRequest([]byte(`{"op":"PUT","key":"k","value":"MQ=="}`), Limits{})
	require.NoError(t, err)
	require.Equal(t, Codec(0), r.ValueCodec)
	require.Equal(t, `"MQ=="`, string(r.Value))
}

func TestReplyRoundTrip(t *testing.T) {
	for _, c := range []Codec{JSON, Msgpack} {
		val := enc(t, c, map[string]any{"n": 1})
		replies := []Reply{
			{Op: OpPut, Status: StatusOK},
			{Op: OpGetOne, Status: StatusOK, Key: "k\"\n\x01é", Value: val, ID: enc(t, c, 42)},
			{Op: OpGetAll, Status: StatusOK, Collection: []Entry{{Key: "a", Value: val}, {Key: "b", Value: val}}},
			{Op: OpScan, Status: StatusOK, Collection: []Entry{{Key: "a", Value: val}}, Cursor: "next"},
			{Op: OpScan, Status: StatusOK, Collection: []Entry{
				{Key: "bin", Value: []byte{0xc4, 0x02, 0xff, 0x00}, Codec: Msgpack},
				{Key: "big", Value: []byte(`123456789012345678901234567890`), Codec: JSON},
				{Key: "empty", Value: []byte{}, Codec: JSON},
				{Key: "long", Value: bytes.Repeat([]byte{0xa1, 'x'}, 40000), Codec: Msgpack},
				{Key: "plain", Value: val},
			}},
			{Op: OpDelete, Status: StatusOK, Deleted: true},
			{Op: OpSync, Status: StatusOK, Token: "t"},
			{Op: OpPing, Status: StatusOK, Node: "node-0", Protocol: Version},
			{Op: OpPing, Status: StatusOK, Node: "node-0", Protocol: Version, Features: []string{FeatureRaw}},
			{Op: OpStats, Status: StatusOK, Stats: &Stats{Node: "n", Keys: 3, Ops: map[string]uint64{"PUT": 2},
				Errors: map[string]uint64{}, Endpoints: map[string]EndpointStats{"request": {Messages: 1}}}},
			{Op: OpBatch, Status: StatusOK, Results: []Reply{{Status: StatusOK}, ErrorReply(Errorf(CodeNotFound, "no"))}},
			{Op: OpDigest, Status: StatusOK, Digests: []Digest{{0, 1, 0}, {7, 3, 1<<64 - 1}}},
			{Op: OpDigest, Status: StatusOK, Digests: []Digest{}},
			{Op: OpDeletePartitions, Status: StatusOK, Count: 12, Cursor: "c"},
			ErrorReply(Errorf(CodeBadRequest, "bad \xff input")),
			{Op: OpGetOne, Status: StatusOK, Key: "k", Value: val, Version: testVersion},
			{Op: OpPut, Status: StatusOK, Superseded: true},
			{Op: OpDelete, Status: StatusOK, Superseded: true},
			{Op: OpDelete, Status: StatusOK, Deleted: true, Superseded: true},
			tombstoneNotFound("k", testVersion),
			{Op: OpScan, Status: StatusOK, Cursor: "c", Collection: []Entry{
				{Key: "a", Value: val, Version: testVersion},
				{Key: "b", Deleted: true, Version: testVersion.Add(1)},
				{Key: "c", Value: []byte{0xc4, 0x01, 0x00}, Codec: Msgpack, Version: testVersion.Add(2)},
				{Key: "d", Value: []byte(`1`), Codec: JSON, Version: testVersion.Add(3)},
				{Key: "e", Deleted: true},
				{Key: "f", Value: val},
			}},
			{Op: OpBatch, Status: StatusOK, Results: []Reply{
				{Op: OpPut, Status: StatusOK, Superseded: true},
				{Op: OpDelete, Status: StatusOK, Deleted: true},
				{Op: OpGetOne, Status: StatusOK, Key: "k", Value: val, Version: testVersion},
				tombstoneNotFound("j", testVersion),
			}},
		}
		for _, r := range replies {
			b, err := AppendReply(nil, c, &r)
			require.NoError(t, err)
			if c == JSON {
				require.True(t, json.Valid(b), "%s", b)
			}
			got, gotC, err := DecodeReply(b)
			require.NoError(t, err, "%q", b)
			require.Equal(t, c, gotC)
			want := r
			want.Op = OpInvalid
			if want.Err != nil {
				want.Err = &Error{Code: want.Err.Code, Message: strings.ToValidUTF8(want.Err.Message, "\ufffd")}
			}
			want.Results = slices.Clone(want.Results)
			for i := range want.Results {
				want.Results[i].Op = OpInvalid
			}
			if c == Msgpack && len(want.Results) > 0 {
				// ok: same shape
			}
			require.Equal(t, want, got, "%s", b)
		}
	}
}

func TestClassLabReplyShapes(t *testing.T) {
	// The exact JSON the class-lab clients expect.
	for _, tc := range []struct {
		r    Reply
		want string
	}{
		{Reply{Op: OpPut, Status: StatusOK}, `{"status":"OK"}`},
		{Reply{Op: OpGetOne, Status: StatusOK, Key: "k", Value: []byte(`"v"`)}, `{"status":"OK","key":"k","value":"v"}`},
		{Reply{Op: OpGetAll, Status: StatusOK, Collection: []Entry{{Key: "k1", Value: []byte(`"v1"`)}, {Key: "k2", Value: []byte(`"v2"`)}}},
			`{"status":"OK","collection":[{"key":"k1","value":"v1"},{"key":"k2","value":"v2"}]}`},
		{Reply{Op: OpGetAll, Status: StatusOK}, `{"status":"OK","collection":[]}`},
		{ErrorReply(Errorf(CodeNotFound, "key %q not found", "k")), `{"status":"error","error":"not_found","message":"key \"k\" not found"}`},
	} {
		b, err := AppendReply(nil, JSON, &tc.r)
		require.NoError(t, err)
		require.Equal(t, tc.want, string(b))
	}
}

func TestConvertValue(t *testing.T) {
	for _, tc := range []struct {
		json string
		mp   any
	}{
		{`"v"`, "v"},
		{`1`, int64(1)},
		{`-5`, int64(-5)},
		{`18446744073709551615`, uint64(18446744073709551615)},
		{`2.5`, 2.5},
		{`true`, true},
		{`null`, nil},
		{`[1,"a",[]]`, []any{int64(1), "a", []any{}}},
		{`{"a":{"b":"<&>"}}`, map[string]any{"a": map[string]any{"b": "<&>"}}},
	} {
		m, err := ConvertValue([]byte(tc.json), JSON, Msgpack)
		require.NoError(t, err, tc.json)
		var got any
		require.NoError(t, msgpack.Unmarshal(m, &got))
		wantB := mp(t, tc.mp)
		var want any
		require.NoError(t, msgpack.Unmarshal(wantB, &want))
		require.Equal(t, want, got, tc.json)

		back, err := ConvertValue(m, Msgpack, JSON)
		require.NoError(t, err)
		require.JSONEq(t, tc.json, string(back))
	}
	same := []byte(`{ "x" : 1 }`)
	out, err := ConvertValue(same, JSON, JSON)
	require.NoError(t, err)
	require.Equal(t, same, out)

	// Unconvertible msgpack values.
	intKeys := mp(t, map[int]string{1: "a"})
	_, err = ConvertValue(intKeys, Msgpack, JSON)
	require.Equal(t, CodeUnconvertible, AsError(err).Code)
	deep := append(bytes.Repeat([]byte{0x91}, MaxConvertDepth+5), 0xc0)
	_, err = ConvertValue(deep, Msgpack, JSON)
	require.Equal(t, CodeUnconvertible, AsError(err).Code)
}

func TestMsgpackSkipMatchesLibrary(t *testing.T) {
	vals := []any{nil, true, 1, -1, -200, 70000, int64(-1 << 40), uint64(1 << 63), 1.5, float32(2.5), "s",
		strings.Repeat("x", 40), strings.Repeat("y", 300), strings.Repeat("z", 70000), []byte{1, 2},
		[]any{1, []any{2, map[string]any{"a": nil}}}, map[string]any{"k": []any{}}, make([]int, 20), make([]int, 70000)}
	for _, v := range vals {
		b := mp(t, v)
		r := mpReader{b: append(b, 0xc0)}
		require.NoError(t, r.skip())
		require.Equal(t, len(b), r.i, "%T", v)
	}
}

func TestBatchBuilder(t *testing.T) {
	for _, c := range []Codec{JSON, Msgpack} {
		bb := NewBatchBuilder(c, nil)
		for round := range 2 {
			bb.Reset(c, nil)
			bb.Put("a", enc(t, c, "1"))
			bb.Delete("b")
			bb.Sync("tok")
			require.Equal(t, 3, bb.Len())
			msg := bb.Bytes()
			if c == JSON {
				require.True(t, json.Valid(msg), "%s", msg)
			}
			r, gotC, err := DecodeRequest(msg, Limits{})
			require.NoError(t, err, "round %d: %q", round, msg)
			require.Equal(t, c, gotC)
			require.Equal(t, Request{Op: OpBatch, Ops: []Request{
				{Op: OpPut, Key: "a", Value: enc(t, c, "1")},
				{Op: OpDelete, Key: "b"},
				{Op: OpSync, Token: "tok"},
			}}, r)
		}
		bb.Reset(c, nil)
		r, _, err := DecodeRequest(bb.Bytes(), Limits{})
		require.NoError(t, err)
		require.Empty(t, r.Ops)
		require.NotNil(t, r.Ops)
	}
}

// TestRawEntryHash pins the hash a raw DIGEST sums to its definition in
// docs/PROTOCOL.md §3.9.
func TestRawEntryHash(t *testing.T) {
	want := xxhash.Sum64([]byte{0x01, 'g', 0x02, 0xc4, 0x02, 0xff, 0x00})
	require.Equal(t, want, RawEntryHash("g", Msgpack, []byte{0xc4, 0x02, 0xff, 0x00}))
	require.NotEqual(t, RawEntryHash("g", JSON, []byte(`1`)), RawEntryHash("g", Msgpack, []byte(`1`)))
}

// TestFieldNamed checks the name lookup of the decoders against the field
// table: every field is found by its name, and nothing else is found.
func TestFieldNamed(t *testing.T) {
	for f := range numFields {
		require.Equal(t, f, fieldNamed([]byte(fields[f].name)), "field %d", f)
		if f < numRequestFields {
			require.Equal(t, f, requestFieldNamed([]byte(fields[f].name)), "field %d", f)
		} else {
			require.Equal(t, noField, requestFieldNamed([]byte(fields[f].name)), "field %d", f)
		}
		require.Equal(t, noField, fieldNamed([]byte(fields[f].name+"x")))
		require.Equal(t, noField, fieldNamed([]byte(strings.ToUpper(fields[f].name))))
	}
	require.Equal(t, noField, fieldNamed(nil))
}

// TestDecodersSetEveryField checks that both request decoders have a case
// for every request field of the table: requests that carry each field
// come back equal from encoding and decoding.
func TestDecodersSetEveryField(t *testing.T) {
	for _, c := range []Codec{JSON, Msgpack} {
		t.Run(c.String(), func(t *testing.T) {
			id, value := []byte(`7`), []byte(`"v"`)
			if c == Msgpack {
				id, value = []byte{7}, []byte{0xa1, 'v'}
			}
			reqs := []Request{
				{Op: OpPut, ID: id, Key: "k", Value: value, IfAbsent: true, Cursor: "c", Limit: 3, HashFrom: 4, HashTo: 5,
					Partitions: 9, Bitmap: []byte{1, 2}, Raw: true, Token: "t", TimeoutMS: 6},
				{Op: OpPut, Key: "k", Value: []byte{0xc0}, ValueCodec: Msgpack},
				{Op: OpBatch, Ops: []Request{{Op: OpGetOne, Key: "k"}}},
				{Op: OpDelete, Key: "k", Version: testVersion},
				{Op: OpGetOne, Key: "k", Versions: true},
				{Op: OpBatch, Version: testVersion, Ops: []Request{{Op: OpPut, Key: "k", Value: value, Version: testVersion.Add(9)}}},
			}
			seen := fieldSetOf(fieldOp)
			for _, want := range reqs {
				msg, err := AppendRequest(nil, c, &want)
				require.NoError(t, err)
				got, _, err := DecodeRequest(msg, Limits{})
				require.NoError(t, err)
				require.Equal(t, want, got)
				seen |= got.carried()
				seen.addIf(fieldOps, got.Ops != nil)
			}
			require.Equal(t, fieldSet(1)<<numRequestFields-1, seen, "fields never decoded")
		})
	}
}

// TestAppendReplyEveryField checks that AppendReply has a case for every
// field replyFields lists: an OK reply of each op, with every field that
// may be left out set, encodes in both codecs with each of its fields.
func TestAppendReplyEveryField(t *testing.T) {
	for _, c := range []Codec{JSON, Msgpack} {
		for _, op := range Ops {
			t.Run(fmt.Sprintf("%v/%v", c, op), func(t *testing.T) {
				r := Reply{Op: op, Status: StatusOK, Features: []string{"f"}, Stats: &Stats{}, Version: testVersion, Superseded: true}
				b, err := AppendReply(nil, c, &r)
				require.NoError(t, err)
				for _, f := range replyFields[op] {
					require.False(t, r.omits(f), "%v", f)
					require.Contains(t, string(b), fields[f].name)
				}
			})
		}
	}
}

// TestDecodersFollowKinds checks that each request decoder reads every
// field as the type the field table gives it: a value of another type is
// rejected with the message of that type.
func TestDecodersFollowKinds(t *testing.T) {
	wants := map[kind]string{
		kindString: "must be a string", kindCodec: "must be a string", kindBase64: "must be a string",
		kindBool: "must be true or false", kindInt: "must be an integer",
		kindUint64: "must be an unsigned 64-bit integer", kindOps: "must be an array",
		kindVersion: "must be 32 hex digits long",
	}
	for _, c := range []Codec{JSON, Msgpack} {
		for f := fieldID; f < numRequestFields; f++ {
			want, ok := wants[fields[f].kind]
			switch {
			case fields[f].kind == kindBinary && c == JSON:
				want, ok = "must be a string", true
			case fields[f].kind == kindBinary:
				want, ok = "must be a msgpack bin", true
			}
			if !ok {
				continue // kindRaw takes any value
			}
			t.Run(fmt.Sprintf("%v/%v", c, f), func(t *testing.T) {
				// A value of the wrong type for each kind: a string for
				// the others, an object for a string.
				var v any = map[string]int{"x": 1}
				if want != "must be a string" {
					v = "x"
				}
				msg := enc(t, c, map[string]any{"op": "BATCH", fields[f].name: v})
				_, _, err := DecodeRequest(msg, Limits{})
				require.ErrorContains(t, err, fmt.Sprintf("%q %s", fields[f].name, want))
			})
		}
	}
}

// TestValidAgreesWithChecks checks the fast path of validate against its
// checks: valid holds exactly for the requests firstFault finds nothing
// wrong with (raw values aside, which valid leaves to the checks).
func TestValidAgreesWithChecks(t *testing.T) {
	lim := Limits{MaxKeyBytes: 8, MaxValueBytes: 16, MaxScanLimit: 100}.WithDefaults()
	rnd := rand.New(rand.NewPCG(1, 2))
	pick := func(n int) int { return rnd.IntN(n) }
	for range 20000 {
		r := Request{Op: Ops[pick(len(Ops))]}
		r.ID = [][]byte{nil, []byte("1"), make([]byte, MaxIDBytes+1)}[pick(3)]
		r.Key = []string{"", "k", "kkkkkkkkk", "\xff"}[pick(4)]
		r.Value = [][]byte{nil, []byte("1"), make([]byte, 17)}[pick(3)]
		if pick(4) == 0 {
			r.ValueCodec = Msgpack
		}
		r.Partitions = []int{0, 8, -1, 9, MaxPartitions + 1}[pick(5)]
		if pick(2) == 0 {
			r.Bitmap = []byte{1}
		}
		r.Limit = []int{0, -1, 5, 101}[pick(4)]
		r.HashFrom, r.HashTo = []uint64{0, 3, 5}[pick(3)], []uint64{0, 3, 5}[pick(3)]
		r.Token = []string{"", "t", strings.Repeat("t", MaxTokenBytes+1)}[pick(3)]
		r.TimeoutMS = []int{0, -1, 7}[pick(3)]
		if pick(2) == 0 {
			r.Ops = []Request{{Op: OpPing}}
		}
		r.Version = []hlc.Version{{}, testVersion}[pick(2)]
		r.Versions = pick(2) == 0
		err := firstFault(&r, &lim)
		if r.ValueCodec != 0 && r.Op == OpPut {
			require.False(t, valid(&r, &lim), "%+v", r)
			continue
		}
		require.Equal(t, err == nil, valid(&r, &lim), "%+v: %v", r, err)
	}
}
