package protocol

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/hlc"
)

// versionWireCases pin the bytes of each field of write versions, in both
// codecs: msg builds the message, its value "v" being val (the encoding of
// "v" in the codec). The msgpack bytes are checked to hold the JSON
// message too, by converting them.
var versionWireCases = []struct {
	name    string
	msg     func(val []byte) any // a Request or a Reply
	json    string
	msgpack string // hex
}{
	{
		"put version",
		func(val []byte) any { return Request{Op: OpPut, Key: "k", Value: val, Version: testVersion} },
		`{"op":"PUT","key":"k","value":"v","version":"018c6d4a3b2c00019e3779b97f4a7c15"}`,
		"84a26f70a3505554a36b6579a16ba576616c7565a176a776657273696f6ed9203031386336643461336232633030303139653337373962393766346137633135",
	},
	{
		"delete version",
		func([]byte) any { return Request{Op: OpDelete, Key: "k", Version: testVersion} },
		`{"op":"DELETE","key":"k","version":"018c6d4a3b2c00019e3779b97f4a7c15"}`,
		"83a26f70a644454c455445a36b6579a16ba776657273696f6ed9203031386336643461336232633030303139653337373962393766346137633135",
	},
	{
		"batch base version",
		func(val []byte) any {
			return Request{Op: OpBatch, Version: testVersion, Ops: []Request{
				{Op: OpPut, Key: "a", Value: val}, {Op: OpDelete, Key: "b", Version: testVersion.Add(5)}}}
		},
		`{"op":"BATCH","version":"018c6d4a3b2c00019e3779b97f4a7c15","ops":[{"op":"PUT","key":"a","value":"v"},` +
			`{"op":"DELETE","key":"b","version":"018c6d4a3b2c00069e3779b97f4a7c15"}]}`,
		"83a26f70a54241544348a776657273696f6ed9203031386336643461336232633030303139653337373962393766346137633135" +
			"a36f70739283a26f70a3505554a36b6579a161a576616c7565a176" +
			"83a26f70a644454c455445a36b6579a162a776657273696f6ed9203031386336643461336232633030303639653337373962393766346137633135",
	},
	{
		"get versions",
		func([]byte) any { return Request{Op: OpGetOne, Key: "k", Versions: true} },
		`{"op":"GET_ONE","key":"k","versions":true}`,
		"83a26f70a74745545f4f4e45a36b6579a16ba876657273696f6e73c3",
	},
	{
		"scan versions",
		func([]byte) any { return Request{Op: OpScan, Limit: 1000, Versions: true} },
		`{"op":"SCAN","limit":1000,"versions":true}`,
		"83a26f70a45343414ea56c696d6974cd03e8a876657273696f6e73c3",
	},
	{
		"digest versions",
		func([]byte) any { return Request{Op: OpDigest, Partitions: 12, Bitmap: []byte{1, 8}, Versions: true} },
		`{"op":"DIGEST","partitions":12,"bitmap":"AQg=","versions":true}`,
		"84a26f70a6444947455354aa706172746974696f6e730ca66269746d6170a44151673da876657273696f6e73c3",
	},
	{
		"get reply version",
		func(val []byte) any {
			return Reply{Op: OpGetOne, Status: StatusOK, Key: "k", Value: val, Version: testVersion}
		},
		`{"status":"OK","key":"k","value":"v","version":"018c6d4a3b2c00019e3779b97f4a7c15"}`,
		"84a6737461747573a24f4ba36b6579a16ba576616c7565a176a776657273696f6ed9203031386336643461336232633030303139653337373962393766346137633135",
	},
	{
		"not found tombstone version",
		func([]byte) any { return tombstoneNotFound("k", testVersion.Add(1)) },
		`{"status":"error","error":"not_found","message":"key \"k\" not found","version":"018c6d4a3b2c00029e3779b97f4a7c15"}`,
		"84a6737461747573a56572726f72a56572726f72a96e6f745f666f756e64a76d657373616765b16b657920226b22206e6f7420666f756e64" +
			"a776657273696f6ed9203031386336643461336232633030303239653337373962393766346137633135",
	},
	{
		"put superseded",
		func([]byte) any { return Reply{Op: OpPut, Status: StatusOK, Superseded: true} },
		`{"status":"OK","superseded":true}`,
		"82a6737461747573a24f4baa73757065727365646564c3",
	},
	{
		"delete superseded",
		func([]byte) any { return Reply{Op: OpDelete, Status: StatusOK, Superseded: true} },
		`{"status":"OK","deleted":false,"superseded":true}`,
		"83a6737461747573a24f4ba764656c65746564c2aa73757065727365646564c3",
	},
	{
		"scan entries with versions and a tombstone",
		func(val []byte) any {
			return Reply{Op: OpScan, Status: StatusOK, Collection: []Entry{
				{Key: "k", Value: val, Version: testVersion}, {Key: "j", Deleted: true, Version: testVersion.Add(1)}}}
		},
		`{"status":"OK","collection":[{"key":"k","value":"v","version":"018c6d4a3b2c00019e3779b97f4a7c15"},` +
			`{"key":"j","deleted":true,"version":"018c6d4a3b2c00029e3779b97f4a7c15"}],"cursor":""}`,
		"83a6737461747573a24f4baa636f6c6c656374696f6e92" +
			"83a36b6579a16ba576616c7565a176a776657273696f6ed9203031386336643461336232633030303139653337373962393766346137633135" +
			"83a36b6579a16aa764656c65746564c3a776657273696f6ed9203031386336643461336232633030303239653337373962393766346137633135" +
			"a6637572736f72a0",
	},
	{
		"raw entry with version",
		func([]byte) any {
			return Reply{Op: OpScan, Status: StatusOK, Collection: []Entry{
				{Key: "g", Value: []byte{0xc4, 0x02, 0xff, 0x00}, Codec: Msgpack, Version: testVersion}}}
		},
		`{"status":"OK","collection":[{"key":"g","raw_value":"xAL/AA==","value_codec":"msgpack","version":"018c6d4a3b2c00019e3779b97f4a7c15"}],"cursor":""}`,
		"83a6737461747573a24f4baa636f6c6c656374696f6e91" +
			"84a36b6579a167a97261775f76616c7565c404c402ff00ab76616c75655f636f646563a76d73677061636b" +
			"a776657273696f6ed9203031386336643461336232633030303139653337373962393766346137633135" +
			"a6637572736f72a0",
	},
}

// TestVersionWire pins the encoding of every field of write versions in
// both codecs, and decodes the pinned bytes back to the message.
func TestVersionWire(t *testing.T) {
	for _, tc := range versionWireCases {
		for _, c := range []Codec{JSON, Msgpack} {
			t.Run(tc.name+"/"+c.String(), func(t *testing.T) {
				val, want := []byte(`"v"`), []byte(tc.json)
				if c == Msgpack {
					val = []byte{0xa1, 'v'}
					var err error
					want, err = hex.DecodeString(tc.msgpack)
					require.NoError(t, err)
					asJSON, err := ConvertValue(want, Msgpack, JSON)
					require.NoError(t, err)
					require.JSONEq(t, tc.json, string(asJSON), "the msgpack bytes are another message")
				}
				switch m := tc.msg(val).(type) {
				case Request:
					got, err := AppendRequest(nil, c, &m)
					require.NoError(t, err)
					require.Equal(t, want, got)
					r, gotC, err := DecodeRequest(want, Limits{})
					require.NoError(t, err)
					require.Equal(t, c, gotC)
					require.Equal(t, m, r)
				case Reply:
					got, err := AppendReply(nil, c, &m)
					require.NoError(t, err)
					require.Equal(t, want, got)
					r, gotC, err := DecodeReply(want)
					require.NoError(t, err)
					require.Equal(t, c, gotC)
					std, err := decodeReply(want, c)
					require.NoError(t, err)
					m.Op = OpInvalid
					require.Equal(t, m, r)
					require.Equal(t, m, std)
				}
			})
		}
	}
}

// TestOpVersion checks the versions of a BATCH's operations: an op's own,
// else the base advanced by the op's index, else none.
func TestOpVersion(t *testing.T) {
	own := hlc.Version{Time: 77, Writer: 3}
	ops := []Request{{Op: OpPut, Key: "a"}, {Op: OpGetOne, Key: "b"}, {Op: OpDelete, Key: "c", Version: own}, {Op: OpDelete, Key: "d"}}
	for _, tc := range []struct {
		name string
		base hlc.Version
		want []hlc.Version
	}{
		{"no base", hlc.Version{}, []hlc.Version{{}, {}, own, {}}},
		{"base", testVersion, []hlc.Version{testVersion, testVersion.Add(1), own, testVersion.Add(3)}},
		{"base with writer only", hlc.Version{Writer: 9}, []hlc.Version{{Writer: 9}, {Time: 1, Writer: 9}, own, {Time: 3, Writer: 9}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Request{Op: OpBatch, Version: tc.base, Ops: ops}
			for i, want := range tc.want {
				require.Equal(t, want, r.OpVersion(i), "op %d", i)
			}
		})
	}
}

// TestVersionErrors pins the errors of misplaced and malformed versions,
// which name the field, in both codecs.
func TestVersionErrors(t *testing.T) {
	type kv = map[string]any
	for _, tc := range []struct {
		name string
		msg  kv
		want string
	}{
		{"short", kv{"op": "PUT", "key": "k", "value": 1, "version": "018c"}, `"version" must be 32 hex digits long, not 4`},
		{"not hex", kv{"op": "PUT", "key": "k", "value": 1, "version": strings.Repeat("0", 31) + "g"},
			`"version" must be 32 hex digits, not "0000000000000000000000000000000g"`},
		{"not a string", kv{"op": "DELETE", "key": "k", "version": 12}, `"version" must be a string`},
		{"versions not bool", kv{"op": "GET_ONE", "key": "k", "versions": "yes"}, `"versions" must be true or false`},
		{"version on GET_ONE", kv{"op": "GET_ONE", "key": "k", "version": testVersion.String()}, `GET_ONE cannot carry "version"`},
		{"versions on PUT", kv{"op": "PUT", "key": "k", "value": 1, "versions": true}, `PUT cannot carry "versions"`},
		{"versions on BATCH", kv{"op": "BATCH", "ops": []any{}, "versions": true}, `BATCH cannot carry "versions"`},
		{"batch item", kv{"op": "BATCH", "ops": []any{kv{"op": "SCAN", "version": testVersion.String()}}}, `ops[0]: SCAN cannot carry "version"`},
		{"batch base", kv{"op": "BATCH", "ops": []any{}, "version": "x"}, `"version" must be 32 hex digits long, not 1`},
	} {
		for _, c := range []Codec{JSON, Msgpack} {
			t.Run(tc.name+"/"+c.String(), func(t *testing.T) {
				_, _, err := DecodeRequest(enc(t, c, tc.msg), Limits{})
				require.Equal(t, &Error{Code: CodeBadRequest, Message: tc.want}, err)
			})
		}
	}
}

// TestRefusedFieldsAreTested checks what valid assumes: the fields some op
// refuses are among those it reads into its set of carried fields.
func TestRefusedFieldsAreTested(t *testing.T) {
	for _, op := range Ops {
		require.Zero(t, opMasks[op].refused&^fieldSetOf(fieldVersion, fieldVersions), "%v", op)
	}
}

// TestVersionEntryHash pins the hash a DIGEST with versions sums to its
// definition in docs/PROTOCOL.md §3.12.
func TestVersionEntryHash(t *testing.T) {
	v := hlc.Version{Time: 0x0102030405060708, Writer: 0x090a0b0c0d0e0f10}
	for _, tombstone := range []bool{false, true} {
		t.Run(fmt.Sprint(tombstone), func(t *testing.T) {
			flag := byte(0)
			if tombstone {
				flag = 1
			}
			want := xxhash.Sum64([]byte{0x01, 'g', 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, flag})
			require.Equal(t, want, VersionEntryHash("g", v, tombstone))
		})
	}
	require.NotEqual(t, VersionEntryHash("g", v, false), VersionEntryHash("g", v.Add(1), false))
	require.NotEqual(t, VersionEntryHash("g", v, false), VersionEntryHash("h", v, false))
}

// TestWriterVersion checks the writer's version digits against
// hlc.Version.AppendText.
func TestWriterVersion(t *testing.T) {
	for _, v := range []hlc.Version{{}, testVersion, {Time: 1<<64 - 1, Writer: 1<<64 - 1}, {Time: 0x0123456789abcdef, Writer: 0xfedcba9876543210}} {
		for _, c := range []Codec{JSON, Msgpack} {
			w := writer{c: c}
			w.version(v)
			want := v.AppendText(nil)
			if c == JSON {
				want = append(append([]byte{'"'}, want...), '"')
			} else {
				want = append([]byte{0xd9, hlc.TextLen}, want...)
			}
			require.Equal(t, string(want), string(w.b), "%v %v", c, v)
		}
	}
}
