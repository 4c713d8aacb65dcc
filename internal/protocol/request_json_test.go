package protocol

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// jsonDiffLimits are the limits the differential tests run under: the
// defaults, and small ones so limit errors are reachable by the fuzzer.
var jsonDiffLimits = []Limits{
	DefaultLimits(),
	Limits{MaxKeyBytes: 8, MaxValueBytes: 16, MaxBatchOps: 3, MaxScanLimit: 5}.WithDefaults(),
}

// checkJSONDiff decodes msg with the hand-written decoder and with the
// encoding/json-based one and fails unless they agree exactly.
func checkJSONDiff(t *testing.T, msg []byte) {
	t.Helper()
	for _, lim := range jsonDiffLimits {
		got, err := decodeJSON(msg, lim, false)
		want, wantErr := decodeJSONStd(msg, lim, false)
		switch {
		case err != nil && wantErr != nil:
			if *AsError(err) != *AsError(wantErr) {
				t.Fatalf("%q (limits %+v):\n got error %v\nwant error %v", msg, lim, err, wantErr)
			}
		case err != nil || wantErr != nil:
			t.Fatalf("%q (limits %+v):\n got %#v, %v\nwant %#v, %v", msg, lim, got, err, want, wantErr)
		case !requestsIdentical(got, want):
			t.Fatalf("%q (limits %+v):\n got %#v\nwant %#v", msg, lim, got, want)
		}
	}
}

// requestsIdentical is requestsEqual that also tells nil from empty.
func requestsIdentical(a, b Request) bool {
	if !requestsEqual(a, b) || (a.ID == nil) != (b.ID == nil) || (a.Value == nil) != (b.Value == nil) || (a.Ops == nil) != (b.Ops == nil) {
		return false
	}
	for i := range a.Ops {
		if !requestsIdentical(a.Ops[i], b.Ops[i]) {
			return false
		}
	}
	return true
}

// jsonDiffCases are requests the decoders must agree on; they seed the fuzzer.
var jsonDiffCases = []string{
	// Whitespace, in and around the object and inside raw values.
	" \t\r\n{ \"op\" : \"PUT\" , \"key\" : \"k\" , \"value\" : { \"a\" : [ 1 , 2 ] } } \n",
	`{"op":"PUT","key":"k","value":"v"}` + " x",
	`{"op":"PUT","key":"k","value":  null  }`,
	`{"op":"PUT","key":"k"}`,
	`{"op":"PUT","key":"k","value":"a\ud83d\ude00\u00e9\"\\\/\b\f\n\r\t"}`,
	`{"op":"PUT","key":"k","value":"` + "\xff\xfe" + `"}`,
	`{"op":"PUT","key":"k","id":{"n":[true,false,null]},"value":-1.5e+300}`,
	// Escapes in keys and field names.
	`{"op":"GET_ONE","key":"\ud83d\ude00"}`,
	`{"op":"GET_ONE","key":"\ud83d"}`,
	`{"op":"GET_ONE","key":"\ude00\ud83d x"}`,
	`{"op":"GET_ONE","key":"\ud83d\u0041"}`,
	`{"op":"GET_ONE","key":"\ud83d\ud83d\ude00"}`,
	`{"op":"GET_ONE","key":"\u0000\u001f\uFFFF"}`,
	`{"\u006fp":"GET_\u004FNE","k\u0065y":"k"}`,
	`{"op":"GET_ONE","ke\u00e9":"k"}`,
	`{"op":"GET_ONE","key":"` + "\xff" + `"}`,
	`{"op":"GET_ONE","key":"` + "\xed\xa0\x80" + `"}`,
	`{"op":"GET_ONE","key":"` + "a\x01" + `"}`,
	`{"op":"GET_ONE","key":"\x"}`,
	`{"op":"GET_ONE","key":"\u12"}`,
	`{"op":"GET_ONE","key":"\u12`,
	`{"op":"GET_ONE","key":"\`,
	`{"op":"GET_ONE","key":""}`,
	`{"op":"GET_ONE","key":"0123456789"}`,
	`{"op":"GET_ONE","key":7}`,
	`{"op":"get_one","key":"k"}`,
	`{"op":"GET_ONE` + "\xff" + `","key":"k"}`,
	`{"op":null}`,
	`{"key":"k"}`,
	`{}`,
	// Duplicate fields: the last one wins, an earlier bad one is no error.
	`{"op":"GET_ONE","key":1,"key":"k"}`,
	`{"op":"GET_ONE","key":"k","key":1}`,
	`{"op":"PING","op":"GET_ONE","key":"k"}`,
	`{"op":"BATCH","ops":[{}],"ops":[{"op":"PING"}]}`,
	`{"op":"BATCH","ops":[{"op":"PING"}],"ops":{}}`,
	// Several bad fields: the first in the fixed order is reported.
	`{"op":"SCAN","timeout_ms":"x","limit":"y","cursor":3}`,
	// Integers.
	`{"op":"SCAN","limit":5,"hash_from":0,"hash_to":18446744073709551615}`,
	`{"op":"SCAN","hash_to":18446744073709551616}`,
	`{"op":"SCAN","hash_from":-0}`,
	`{"op":"SCAN","hash_from":1.0}`,
	`{"op":"SCAN","hash_from":1e3}`,
	`{"op":"SCAN","hash_from":null}`,
	`{"op":"SCAN","limit":-0}`,
	`{"op":"SCAN","limit":-1}`,
	`{"op":"SCAN","limit":6}`,
	`{"op":"SCAN","limit":9223372036854775807}`,
	`{"op":"SCAN","limit":-9223372036854775808}`,
	`{"op":"SCAN","limit":9223372036854775808}`,
	`{"op":"SCAN","limit":-9223372036854775809}`,
	`{"op":"SCAN","limit":"5"}`,
	`{"op":"SCAN","limit":[5]}`,
	`{"op":"SCAN","hash_from":5,"hash_to":5}`,
	// PUT if absent.
	`{"op":"PUT","key":"k","value":1,"if_absent":true}`,
	`{"op":"PUT","key":"k","value":1,"if_absent":false}`,
	`{"op":"PUT","key":"k","value":1,"if_absent":null}`,
	`{"op":"PUT","key":"k","value":1,"if_absent":1}`,
	`{"op":"PUT","key":"k","value":1,"if_absent":"true"}`,
	`{"op":"PUT","key":"k","value":1,"if_absent":tru}`,
	// Raw values and raw reads.
	`{"op":"PUT","key":"k","raw_value":"xAL/AA==","value_codec":"msgpack"}`,
	`{"op":"PUT","key":"k","raw_value":"MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw","value_codec":"json","if_absent":true}`,
	`{"op":"PUT","key":"k","raw_value":"IHsiYSI6MX0=","value_codec":"json"}`,
	`{"op":"PUT","key":"k","raw_value":"eyJhIjp9","value_codec":"json"}`,
	`{"op":"PUT","key":"k","raw_value":"xAL/","value_codec":"msgpack"}`,
	`{"op":"PUT","key":"k","raw_value":"oXihNA==","value_codec":"msgpack"}`,
	`{"op":"PUT","key":"k","raw_value":"","value_codec":"json"}`,
	`{"op":"PUT","key":"k","raw_value":"AQID","value_codec":"xml"}`,
	`{"op":"PUT","key":"k","raw_value":"AQID","value_codec":2}`,
	`{"op":"PUT","key":"k","raw_value":"AQ=","value_codec":"json"}`,
	`{"op":"PUT","key":"k","raw_value":[1],"value_codec":"json"}`,
	`{"op":"PUT","key":"k","raw_value":"MQ=="}`,
	`{"op":"PUT","key":"k","value_codec":"json"}`,
	`{"op":"PUT","key":"k","value":1,"value_codec":"json"}`,
	`{"op":"PUT","key":"k","value":1,"raw_value":"MQ==","value_codec":"json"}`,
	`{"op":"PUT","key":"k","raw_value":"MQ==","value_codec":"json","if_absent":1}`,
	`{"op":"PUT","key":"k","raw_value":"MQ==","value_codec":"json","value":null}`,
	`{"op":"BATCH","ops":[{"op":"PUT","key":"a","raw_value":"kwE=","value_codec":"msgpack","if_absent":true}]}`,
	`{"op":"BATCH","ops":[{"op":"PUT","key":"a","raw_value":"kwE=","value_codec":"json"}]}`,
	`{"op":"GET_ONE","key":"k","raw_value":"MQ==","value_codec":"json"}`,
	`{"op":"SCAN","raw":true,"partitions":12,"bitmap":"AQg="}`,
	`{"op":"SCAN","raw":false}`,
	`{"op":"SCAN","raw":"true"}`,
	`{"op":"SCAN","raw":null,"limit":"x"}`,
	`{"op":"DIGEST","raw":true,"partitions":1,"bitmap":"AQ=="}`,
	// Versions.
	`{"op":"PUT","key":"k","value":1,"version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
	`{"op":"PUT","key":"k","value":1,"version":"0000018C6D4A3B2C0001A1B2C3D4E5F6"}`,
	`{"op":"PUT","key":"k","value":1,"version":"00000000000000000000000000000000"}`,
	`{"op":"PUT","key":"k","value":1,"version":"\u0030000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
	`{"op":"PUT","key":"k","value":1,"version":"0000018c6d4a3b2c0001a1b2c3d4e5f"}`,
	`{"op":"PUT","key":"k","value":1,"version":"0000018c6d4a3b2c0001a1b2c3d4e5f6a"}`,
	`{"op":"PUT","key":"k","value":1,"version":"0000018c6d4a3b2c0001a1b2c3d4e5fg"}`,
	`{"op":"PUT","key":"k","value":1,"version":"0000018c6d4a3b2c0001a1b2c3d4e5` + "\xff" + `"}`,
	`{"op":"PUT","key":"k","value":1,"version":null}`,
	`{"op":"PUT","key":"k","value":1,"version":1}`,
	`{"op":"PUT","key":"k","value":1,"version":"x","timeout_ms":"y"}`,
	`{"op":"PUT","key":"k","value":1,"version":"x","versions":"y"}`,
	`{"op":"PUT","key":"k","value":1,"versions":true}`,
	`{"op":"PUT","key":"k","value":1,"versions":false}`,
	`{"op":"DELETE","key":"k","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
	`{"op":"GET_ONE","key":"k","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
	`{"op":"GET_ONE","key":"k","version":"00000000000000000000000000000000"}`,
	`{"op":"GET_ONE","key":"k","versions":true}`,
	`{"op":"GET_ONE","versions":true,"version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
	`{"op":"GET_ONE","key":"k","versions":1}`,
	`{"op":"SCAN","versions":true,"raw":true,"limit":5}`,
	`{"op":"DIGEST","versions":true,"partitions":1,"bitmap":"AQ=="}`,
	`{"op":"GET_ALL","versions":true}`,
	`{"op":"SYNC","token":"t","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}`,
	`{"op":"BATCH","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6","ops":[{"op":"PUT","key":"a","value":1},{"op":"DELETE","key":"b","version":"0000018c6d4a3b2d0001a1b2c3d4e5f6"}]}`,
	`{"op":"BATCH","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6","ops":[{"op":"PUT","key":"a","value":1,"version":"x"}]}`,
	`{"op":"BATCH","ops":[{"op":"GET_ONE","key":"a","versions":true},{"op":"GET_ONE","key":"a","version":"0000018c6d4a3b2c0001a1b2c3d4e5f6"}]}`,
	`{"op":"BATCH","versions":true,"ops":[]}`,
	`{"op":"BATCH","version":"zz","ops":[{"op":"PUT","key":"a"}]}`,
	// Partition sets.
	`{"op":"SCAN","partitions":12,"bitmap":"AQg=","limit":5}`,
	`{"op":"SCAN","partitions":12,"bitmap":"AQ\u0067="}`,
	`{"op":"SCAN","partitions":12}`,
	`{"op":"SCAN","bitmap":"AQg="}`,
	`{"op":"SCAN","partitions":8,"bitmap":"AQg="}`,
	`{"op":"SCAN","partitions":12,"bitmap":"AQg"}`,
	`{"op":"SCAN","partitions":12,"bitmap":"AQh="}`,
	`{"op":"SCAN","partitions":12,"bitmap":"AQ\ng="}`,
	`{"op":"SCAN","partitions":12,"bitmap":3}`,
	`{"op":"SCAN","partitions":"12","bitmap":"AQg="}`,
	`{"op":"SCAN","partitions":0,"bitmap":""}`,
	`{"op":"SCAN","partitions":-1,"bitmap":""}`,
	`{"op":"SCAN","partitions":16777217,"bitmap":""}`,
	`{"op":"DIGEST","partitions":1,"bitmap":"AQ==","hash_from":1,"hash_to":2}`,
	`{"op":"DIGEST","partitions":1,"bitmap":"AQ==","hash_from":2,"hash_to":2}`,
	`{"op":"DIGEST"}`,
	`{"op":"DELETE_PARTITIONS","partitions":1,"bitmap":"AQ==","cursor":"","limit":6}`,
	`{"op":"DELETE_PARTITIONS","limit":1}`,
	`{"op":"SYNC","token":"t","timeout_ms":-3}`,
	`{"op":"SYNC","token":"","timeout_ms":3}`,
	// Syntax errors, each of encoding/json's messages.
	`{"op":"PING",}`,
	`{"op":"PING" "x":1}`,
	`{"op" "PING"}`,
	`{op:"PING"}`,
	`{"op":"PING","x":[1 2]}`,
	`{"op":"PING","x":[1,]}`,
	`{"op":"PING","x":01}`,
	`{"op":"PING","x":-}`,
	`{"op":"PING","x":-a}`,
	`{"op":"PING","x":1.}`,
	`{"op":"PING","x":1.e5}`,
	`{"op":"PING","x":1e}`,
	`{"op":"PING","x":1e+}`,
	`{"op":"PING","x":tru}`,
	`{"op":"PING","x":fals`,
	`{"op":"PING","x":nul`,
	`{"op":"PING","x":nulL}`,
	`{"op":"PING","x":-`,
	`{"op":"PING","x":1.`,
	`{"op":"PING","x":1e`,
	`{"op":"PING","x":1`,
	`{"op":"PING","x":`,
	`{"op":"PING","x"`,
	`{"op":"PING"`,
	`{"op":"PING`,
	`{"op":"PING"}}`,
	`{"op":"PING"}'`,
	`{"op":"PING","x":'a'}`,
	`{"op":"PING","x":+1}`,
	`{"op":"PING","x":.5}`,
	`{"op":"PING","x":` + "\xff" + `}`,
	`{`,
	`{"`,
	`[]`,
	`"x"`,
	``,
	`   `,
	// BATCH.
	`{"op":"BATCH","ops":[]}`,
	`{"op":"BATCH","ops":[ ]}`,
	`{"op":"BATCH","ops":null}`,
	`{"op":"BATCH","ops":"x"}`,
	`{"op":"BATCH"}`,
	`{"op":"BATCH","ops":[{"op":"PUT","key":"a","value":1},{"op":"DELETE","key":"b"},{"op":"SYNC","token":"t"}]}`,
	`{"op":"BATCH","ops":[{"op":"PUT","key":"a","value":1},[],{"op":"X"}]}`,
	`{"op":"BATCH","ops":[{"op":"PUT","key":"a"},{"op":"X"}]}`,
	`{"op":"BATCH","ops":[{"op":"BATCH","ops":[{"op":"PING"}]}]}`,
	`{"op":"BATCH","ops":[{"op":"PING","ops":[[[]]]}]}`,
	`{"op":"BATCH","ops":[{"op":"PING","id":1}]}`,
	`{"op":"BATCH","ops":[{},{},{},{}]}`,
	`{"op":"BATCH","ops":[{"op":"PING"},{"op":"PING"},{"op":"PING"},{"op":"PING"}]}`,
	`{"op":"BATCH","ops":[{"op":"PING"},{"op":"PING"},{"op":"PING"},{"op":"PING"},}]}`,
	`{"op":"PING","ops":[{}]}`,
	`{"op":"PING","ops":[{"op":"PING"}]}`,
	`{"op":"BATCH","id":"` + strings.Repeat("i", 300) + `","ops":[]}`,
}

func TestDecodeJSONMatchesStd(t *testing.T) {
	for _, tc := range jsonDiffCases {
		checkJSONDiff(t, []byte(tc))
	}
}

// TestDecodeJSONDepth checks encoding/json's nesting limit of 10000 arrays
// and objects, the request object included.
func TestDecodeJSONDepth(t *testing.T) {
	for _, depth := range []int{9999, 10000, 10001} {
		for _, open := range []string{"[", `{"a":`} {
			close := map[string]string{"[": "]", `{"a":`: "}"}[open]
			v := strings.Repeat(open, depth-1) + "1" + strings.Repeat(close, depth-1)
			t.Run(fmt.Sprintf("%s%d", open[:1], depth), func(t *testing.T) {
				checkJSONDiff(t, []byte(`{"op":"PUT","key":"k","value":`+v+`}`))
				checkJSONDiff(t, []byte(`{"op":"PUT","key":"k","value":`+v))
				checkJSONDiff(t, []byte(`{"op":"BATCH","ops":[{"op":"PUT","key":"k","value":`+v[1:len(v)-1]+`}]}`))
			})
		}
	}
}

func TestDecodeJSONAliases(t *testing.T) {
	msg := []byte(`{"op":"PUT","key":"k","value": {"a": 1} ,"id":7}`)
	r, err := decodeJSON(msg, DefaultLimits(), false)
	if err != nil {
		t.Fatal(err)
	}
	if string(r.Value) != `{"a": 1}` || string(r.ID) != "7" || r.Key != "k" {
		t.Fatalf("got %#v", r)
	}
	// Appending to a raw field must not overwrite the message.
	_ = append(r.Value, 'x')
	if !bytes.Equal(msg, []byte(`{"op":"PUT","key":"k","value": {"a": 1} ,"id":7}`)) {
		t.Fatalf("message modified: %s", msg)
	}
}

// FuzzDecodeJSONDiff checks the hand-written JSON decoder against the
// encoding/json-based one it replaced: same requests, same errors.
func FuzzDecodeJSONDiff(f *testing.F) {
	fuzzSeeds(f)
	for _, s := range jsonDiffCases {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		checkJSONDiff(t, msg)
	})
}

// BenchmarkDecodeJSON compares the hand-written decoder with the
// encoding/json-based one on single requests and a 128-op ingest BATCH;
// ns/op is per message.
func BenchmarkDecodeJSON(b *testing.B) {
	bb := NewBatchBuilder(JSON, nil)
	value := []byte(`"` + strings.Repeat("v", 98) + `"`)
	for i := range 128 {
		bb.Put("key-"+strconv.Itoa(i), value)
	}
	msgs := []struct{ name, msg string }{
		{"get", `{"op":"GET_ONE","key":"user:000123456","id":42}`},
		{"put", `{"op":"PUT","key":"user:000123456","value":` + string(value) + `}`},
		{"batch128", string(bb.Bytes())},
	}
	decoders := []struct {
		name string
		fn   func([]byte, Limits, bool) (Request, error)
	}{{"std", decodeJSONStd}, {"hand", decodeJSON}}
	lim := DefaultLimits()
	for _, m := range msgs {
		for _, d := range decoders {
			b.Run(m.name+"/"+d.name, func(b *testing.B) {
				b.ReportAllocs()
				msg := []byte(m.msg)
				b.SetBytes(int64(len(msg)))
				for b.Loop() {
					if _, err := d.fn(msg, lim, false); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
