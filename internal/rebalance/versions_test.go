package rebalance

import (
	"testing"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
)

func TestConverged(t *testing.T) {
	v1, v2 := hlc.Version{Time: 10, Writer: 1}, hlc.Version{Time: 20, Writer: 1}
	val := func(s string, v hlc.Version) value { return value{data: []byte(s), codec: protocol.JSON, version: v} }
	tomb := func(v hlc.Version) value { return value{deleted: true, version: v} }
	none := value{}
	for _, tc := range []struct {
		name       string
		s, d       value
		plain, ver bool // converged without versions, with versions
	}{
		{"both missing", none, none, true, true},
		{"same value", val(`"a"`, v1), val(`"a"`, v1), true, true},
		{"missing on dst", val(`"a"`, v1), none, false, false},
		{"extra on dst", none, val(`"a"`, v1), false, false},
		{"older on dst", val(`"a"`, v2), val(`"b"`, v1), false, false},
		{"newer on dst: a write src gets too", val(`"a"`, v1), val(`"b"`, v2), false, true},
		{"tombstone on dst, nothing on src", none, tomb(v1), false, true},
		{"tombstone copied", tomb(v1), tomb(v1), true, true},
		{"tombstone missing on dst", tomb(v2), val(`"a"`, v1), false, false},
		{"newer value over an old tombstone", tomb(v1), val(`"a"`, v2), false, true},
		{"unversioned, same", val(`"a"`, hlc.Version{}), val(`"a"`, hlc.Version{}), true, true},
		{"unversioned, different", val(`"a"`, hlc.Version{}), val(`"b"`, hlc.Version{}), false, false},
		{"versioned dst over unversioned src", val(`"a"`, hlc.Version{}), val(`"b"`, v1), false, true},
		{"unversioned dst under versioned src", val(`"a"`, v1), val(`"a"`, hlc.Version{}), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, versions := range []bool{false, true} {
				r := &rebalancer{versions: versions}
				want := map[bool]bool{false: tc.plain, true: tc.ver}[versions]
				if got := r.converged(tc.s, tc.d); got != want {
					t.Fatalf("versions %v: converged = %v, want %v", versions, got, want)
				}
			}
		})
	}
}
