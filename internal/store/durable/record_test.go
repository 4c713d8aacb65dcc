package durable

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/storetest"
)

// record returns the record of v.
func record(v store.Value) []byte {
	b := make([]byte, recordLen(v))
	putRecord(b, v)
	return b
}

var ver = hlc.Version{Time: 0x0102030405060708, Writer: 0x1112131415161718}

const verBytes = "\x01\x02\x03\x04\x05\x06\x07\x08\x11\x12\x13\x14\x15\x16\x17\x18"

// TestRecordForms pins the bytes of each form of a record.
func TestRecordForms(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    store.Value
		rec  string
	}{
		{"plain: as before versions", store.Value{Codec: 1, Data: []byte("abc")}, "\x01abc"},
		{"plain, empty", store.Value{Codec: 2}, "\x02"},
		{"plain, data with the high bit", store.Value{Codec: 1, Data: []byte{0x80, 0xff}}, "\x01\x80\xff"},
		{"versioned", store.Value{Codec: 1, Data: []byte("abc"), Version: ver}, "\x80\x01" + verBytes + "abc"},
		{"versioned, empty", store.Value{Codec: 2, Version: ver}, "\x80\x02" + verBytes},
		{"tombstone", store.Value{Tombstone: true, Version: ver}, "\x81\x00" + verBytes},
		{"tombstone of zero version", store.Value{Tombstone: true}, "\x81\x00" + string(make([]byte, 16))},
		{"codec with the high bit", store.Value{Codec: 0x90, Data: []byte("x")}, "\x80\x90" + string(make([]byte, 16)) + "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, []byte(tc.rec), record(tc.v))
			got, err := decodeRecord([]byte(tc.rec))
			require.NoError(t, err)
			storetest.RequireValue(t, tc.v, got)
		})
	}
}

func TestRecordMalformed(t *testing.T) {
	for _, tc := range []struct{ name, rec string }{
		{"empty", ""},
		{"short header", "\x80\x01" + verBytes[:15]},
		{"unknown flag", "\x82\x01" + verBytes},
		{"tombstone with data", "\x81\x00" + verBytes + "x"},
		{"tombstone with a codec", "\x81\x01" + verBytes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRecord([]byte(tc.rec))
			require.ErrorIs(t, err, ErrCorrupt)
		})
	}
}

// FuzzDecodeRecord: decoding never panics, and a decoded record encodes
// back to one that decodes the same (to the same bytes when canonical).
func FuzzDecodeRecord(f *testing.F) {
	for _, seed := range []string{"", "\x01abc", "\x02", "\x80\x01" + verBytes + "abc", "\x81\x00" + verBytes, "\x80", "\xff" + verBytes} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decodeRecord(b)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		again := record(v)
		v2, err := decodeRecord(again)
		require.NoError(t, err)
		storetest.RequireValue(t, v, v2)
		if b[0] < recVersioned || !v.Version.IsZero() || v.Tombstone || v.Codec >= recVersioned {
			require.True(t, bytes.Equal(b, again), "%x re-encoded as %x", b, again)
		}
	})
}
