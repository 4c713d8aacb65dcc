package ctxtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/ctxtime"
)

func TestSleep(t *testing.T) {
	t.Run("elapses", func(t *testing.T) {
		require.NoError(t, ctxtime.Sleep(context.Background(), time.Millisecond))
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, ctxtime.Sleep(ctx, time.Hour), context.Canceled)
	})
}
