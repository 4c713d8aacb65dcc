package testcluster

import (
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"
)

func TestConsulKVRoundTrip(t *testing.T) {
	c := StartConsul(t)

	kv := c.Client.KV()
	_, err := kv.Put(&api.KVPair{Key: "zshard/test/greeting", Value: []byte("hello")}, nil)
	require.NoError(t, err)

	pair, _, err := kv.Get("zshard/test/greeting", nil)
	require.NoError(t, err)
	require.NotNil(t, pair, "key written a moment ago is missing")
	require.Equal(t, "hello", string(pair.Value))

	// CAS with a stale index must fail: the agent is a real raft store.
	ok, _, err := kv.CAS(&api.KVPair{Key: "zshard/test/greeting", Value: []byte("x"), ModifyIndex: pair.ModifyIndex - 1}, nil)
	require.NoError(t, err)
	require.False(t, ok, "CAS with a stale index succeeded")
}

func TestConsulAgentsAreIndependent(t *testing.T) {
	a, b := StartConsul(t), StartConsul(t)
	require.NotEqual(t, a.Addr, b.Addr)

	_, err := a.Client.KV().Put(&api.KVPair{Key: "only/in/a", Value: []byte("1")}, nil)
	require.NoError(t, err)
	pair, _, err := b.Client.KV().Get("only/in/a", nil)
	require.NoError(t, err)
	require.Nil(t, pair, "a write to one test agent is visible in another")
}

func TestFreePortsDistinct(t *testing.T) {
	ports, err := FreePorts(16)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, p := range ports {
		require.False(t, seen[p], "port %d returned twice", p)
		require.Greater(t, p, 0)
		seen[p] = true
	}
}

func TestConsulRestartForgetsEverything(t *testing.T) {
	c := StartConsul(t)
	addr := c.Addr
	_, err := c.Client.KV().Put(&api.KVPair{Key: "zshard/before", Value: []byte("1")}, nil)
	require.NoError(t, err)

	c.Restart(t)
	require.Equal(t, addr, c.Addr, "a restarted agent must keep its address")
	pair, _, err := c.Client.KV().Get("zshard/before", nil)
	require.NoError(t, err)
	require.Nil(t, pair, "a dev agent kept KV data across a restart")
	_, err = c.Client.KV().Put(&api.KVPair{Key: "zshard/after", Value: []byte("2")}, nil)
	require.NoError(t, err)
}

// TestFreePortRangeClaims checks that a range handed out stays promised to
// its test: a second claim, here or in another process, never overlaps it.
func TestFreePortRangeClaims(t *testing.T) {
	seen := map[int]bool{}
	for range 8 {
		base := FreePortRange(t, 211)
		require.Zero(t, (base-10240)%portBlock, "range %d not at a block start", base)
		require.False(t, seen[base], "block %d handed out twice", base)
		seen[base] = true
	}
}
