package durable

import (
	"fmt"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/store"
)

// The Pebble value of a record has one of two forms, told apart by its
// first byte:
//
//   - plain, first byte below 0x80: the codec byte, then the data. This is
//     how the store writes a value of zero version whose codec is below
//     0x80, byte for byte as the stores before versions wrote every value
//     (their codecs were the protocol's, 1 and 2), and it reads as a value
//     of zero version.
//   - versioned, first byte 0x80 | flags: the flags byte (bit 0: tombstone;
//     the other bits are zero), the codec byte, the 16-byte version
//     (hlc.Version.AppendBinary), then the data (none for a tombstone).
const (
	recVersioned = 0x80
	recTombstone = 0x01
	// versionedHeader is the length of a versioned record before its data.
	versionedHeader = 2 + hlc.Size
)

// plain reports whether v is written in the plain form.
func plain(v store.Value) bool {
	return !v.Tombstone && v.Version.IsZero() && v.Codec < recVersioned
}

// recordLen returns the length of the record of v.
func recordLen(v store.Value) int {
	if plain(v) {
		return 1 + len(v.Data)
	}
	return versionedHeader + len(v.Data)
}

// putRecord writes the record of v into dst, which is recordLen(v) long. A
// tombstone is written without data and with codec 0 (see normalize).
func putRecord(dst []byte, v store.Value) {
	if plain(v) {
		dst[0] = v.Codec
		copy(dst[1:], v.Data)
		return
	}
	flags := byte(recVersioned)
	if v.Tombstone {
		flags |= recTombstone
	}
	dst[0], dst[1] = flags, v.Codec
	v.Version.AppendBinary(dst[2:2])
	copy(dst[versionedHeader:], v.Data)
}

// decodeRecord decodes a record written by putRecord (or by the stores
// before versions). Data aliases b; it is nil for a tombstone.
func decodeRecord(b []byte) (store.Value, error) {
	if len(b) == 0 {
		return store.Value{}, fmt.Errorf("%w: empty", ErrCorrupt)
	}
	if b[0] < recVersioned {
		return store.Value{Codec: b[0], Data: b[1:]}, nil
	}
	if len(b) < versionedHeader || b[0]&^(recVersioned|recTombstone) != 0 {
		return store.Value{}, fmt.Errorf("%w: header %x", ErrCorrupt, b[:min(len(b), versionedHeader)])
	}
	v := store.Value{Codec: b[1], Version: hlc.FromBinary(b[2:])}
	if b[0]&recTombstone != 0 {
		if len(b) > versionedHeader || v.Codec != 0 {
			return store.Value{}, fmt.Errorf("%w: tombstone with a value", ErrCorrupt)
		}
		v.Tombstone = true
		return v, nil
	}
	v.Data = b[versionedHeader:]
	return v, nil
}

// normalize returns v as the store keeps it: a tombstone has no data and
// codec 0.
func normalize(v store.Value) store.Value {
	if v.Tombstone {
		v.Codec, v.Data = 0, nil
	}
	return v
}
