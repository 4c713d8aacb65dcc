package proc

import (
	"encoding/binary"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAuxvValue(t *testing.T) {
	for _, size := range []int{4, 8} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			var v []byte
			put := func(k, x uint64) {
				if size == 4 {
					v = binary.NativeEndian.AppendUint32(v, uint32(k))
					v = binary.NativeEndian.AppendUint32(v, uint32(x))
				} else {
					v = binary.NativeEndian.AppendUint64(v, k)
					v = binary.NativeEndian.AppendUint64(v, x)
				}
			}
			put(6, 4096)
			put(atClkTck, 250)
			put(0, 0)
			require.Equal(t, uint64(250), auxvValue(v, atClkTck, size))
			require.Zero(t, auxvValue(v, 99, size))
			require.Zero(t, auxvValue(v[:size+1], 6, size), "a truncated vector")
		})
	}
}
