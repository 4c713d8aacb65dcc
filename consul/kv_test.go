package consul_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
)

// TestJSONDocuments writes, reads, replaces and deletes a JSON document.
func TestJSONDocuments(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	type doc struct {
		Run  string `json:"run"`
		Last int    `json:"last"`
	}
	var got doc
	require.ErrorIs(t, c.GetJSON(ctx, consul.RepairKey, &got), consul.ErrNotFound)
	for _, d := range []doc{{"a", -1}, {"a", 4095}} {
		require.NoError(t, c.PutJSON(ctx, consul.RepairKey, d))
		require.NoError(t, c.GetJSON(ctx, consul.RepairKey, &got))
		require.Equal(t, d, got)
	}
	require.NoError(t, c.DeleteKey(ctx, consul.RepairKey))
	require.ErrorIs(t, c.GetJSON(ctx, consul.RepairKey, &got), consul.ErrNotFound)
	require.NoError(t, c.DeleteKey(ctx, consul.RepairKey), "deleting a missing key")

	require.NoError(t, c.PutJSON(ctx, consul.RepairKey, "not an object"))
	require.Error(t, c.GetJSON(ctx, consul.RepairKey, &got))
}
