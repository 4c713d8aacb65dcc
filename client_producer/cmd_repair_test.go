package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/repair"
	"github.com/zshard/zshard/internal/testcluster"
)

// TestRepairCommand runs repair, dry and not, with --json and without,
// against a real Consul agent and three nodes, one of whose replicas got a
// write the other did not.
func TestRepairCommand(t *testing.T) {
	c := testcluster.StartConsul(t)
	startNodes(t, c.Addr, 3)
	g := []string{"--consul", c.Addr, "-R", "1", "--codec", "msgpack"}
	_, _, err := run2(t, append(g, "load", "--keys", "300")...)
	require.NoError(t, err)
	stdout, _, err := run2(t, append(g, "repair", "--dry-run")...)
	require.NoError(t, err)
	require.Contains(t, stdout, "0 differing")

	// key-7's first replica alone gets a newer write.
	ctx := context.Background()
	p, err := producer.New(ctx, producer.Config{Consul: consul.Config{Addr: c.Addr}, NoInit: true, Codec: protocol.Msgpack})
	require.NoError(t, err)
	defer p.Close()
	replicas := p.Replicas("key-7")
	require.Len(t, replicas, 2)
	newer := hlc.Version{Time: hlc.At(time.Now()) + 1, Writer: 42}
	_, err = p.Call(ctx, replicas[0], protocol.Request{Op: protocol.OpPut, Key: "key-7", Value: []byte{0xa1, 'x'}, Version: newer})
	require.NoError(t, err)

	type out struct {
		DryRun     bool          `json:"dry_run"`
		Report     repair.Report `json:"report"`
		FixedTotal int64         `json:"fixed_total"`
	}
	for _, dry := range []bool{true, false} {
		args := append(g, "--json", "repair")
		if dry {
			args = append(args, "--dry-run")
		}
		stdout, _, err := run2(t, args...)
		require.NoError(t, err)
		var o out
		require.NoError(t, json.Unmarshal([]byte(stdout), &o), stdout)
		require.Equal(t, dry, o.DryRun)
		require.Equal(t, 1, o.Report.Differing, stdout)
		require.Equal(t, int64(1), o.FixedTotal, stdout)
		require.Equal(t, map[string]int64{replicas[1]: 1}, o.Report.Fixed, stdout)
	}
	got, err := p.Call(ctx, replicas[1], protocol.Request{Op: protocol.OpGetOne, Key: "key-7", Versions: true})
	require.NoError(t, err)
	require.Equal(t, newer, got.Version)

	stdout, _, err = run2(t, append(g, "repair")...)
	require.NoError(t, err)
	require.Contains(t, stdout, "0 differing")
	require.Contains(t, stdout, "fixed 0 keys")
}
