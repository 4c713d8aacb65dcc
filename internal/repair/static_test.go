package repair_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/repair"
)

// TestStaticRefused: the repair records its progress in Consul.
func TestStaticRefused(t *testing.T) {
	cfg := repair.Config{Producer: producer.Config{Static: producer.StaticMembers(2, "127.0.0.1", 2000, 2100)}}
	_, err := repair.Run(context.Background(), cfg)
	require.ErrorIs(t, err, producer.ErrStatic)
}
