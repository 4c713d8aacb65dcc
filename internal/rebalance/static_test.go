package rebalance_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/rebalance"
)

// TestStaticRefused: a static cluster has no stored layout to change.
func TestStaticRefused(t *testing.T) {
	cfg := rebalance.Config{Producer: producer.Config{Static: producer.StaticMembers(2, "127.0.0.1", 2000, 2100)}}
	_, err := rebalance.Add(context.Background(), cfg, "node-2", "")
	require.ErrorIs(t, err, producer.ErrStatic)
	_, err = rebalance.Remove(context.Background(), cfg, "node-0")
	require.ErrorIs(t, err, producer.ErrStatic)
}
