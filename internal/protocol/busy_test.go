package protocol

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBusyBackoff(t *testing.T) {
	for a := range 10 {
		d := BusyBackoff(a)
		base := 50 * time.Millisecond << min(a, 5)
		require.GreaterOrEqual(t, d, base, "attempt %d", a)
		require.Less(t, d, 2*base, "attempt %d", a)
	}
	require.True(t, IsBusy(fmt.Errorf("SCAN to x: %w", Errorf(CodeBusy, "full"))))
	require.False(t, IsBusy(Errorf(CodeInternal, "x")))
	require.False(t, IsBusy(nil))
}
