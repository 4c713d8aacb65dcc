package rebalance_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// TestRebalanceKeepsCodecs adds a node to a cluster (R=1) holding values a
// conversion would change or refuse — msgpack bin, a msgpack map with
// integer keys (no JSON form), float32 and a uint16-wide 1, a JSON integer
// beyond msgpack's and a number beyond float64 (no msgpack form), JSON
// with whitespace — then removes another, whose destinations hold stale
// copies of some keys (older versions) that the copy must replace, with a rebalancer
// speaking either codec: every value ends on its new owners with the bytes
// and the codec it was written with.
func TestRebalanceKeepsCodecs(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: real Consul and node processes")
	}
	values := []struct {
		c protocol.Codec
		v []byte
	}{
		{protocol.Msgpack, []byte{0xc4, 0x02, 0xff, 0x00}},
		{protocol.Msgpack, []byte{0x81, 0x01, 0xa1, 'x'}},
		{protocol.Msgpack, []byte{0xca, 0x3f, 0xc0, 0x00, 0x00}},
		{protocol.Msgpack, []byte{0xcd, 0x00, 0x01}},
		{protocol.JSON, []byte(`123456789012345678901234567890`)},
		{protocol.JSON, []byte(`1e400`)},
		{protocol.JSON, []byte(`{"b": 1,  "a": [2]}`)},
	}
	for _, rc := range []protocol.Codec{protocol.JSON, protocol.Msgpack} {
		t.Run("rebalancer="+rc.String(), func(t *testing.T) {
			ctx := context.Background()
			c := startCluster(t, sharding.Rendezvous, 1, 1000)
			producers := map[protocol.Codec]*producer.Producer{protocol.JSON: c.p}
			pm, err := producer.New(ctx, producer.Config{Consul: consul.Config{Addr: c.agent.Addr}, Codec: protocol.Msgpack,
				Settings: layout.Settings{Algorithm: c.alg, Replicas: c.r, Partitions: testPartitions}})
			require.NoError(t, err)
			t.Cleanup(func() { _ = pm.Close() })
			producers[protocol.Msgpack] = pm

			type stored struct {
				c protocol.Codec
				v []byte
			}
			want := map[string]stored{}
			for i := range 50 {
				for j, v := range values {
					k := fmt.Sprintf("codec-%d-%03d", j, i)
					require.NoError(t, producers[v.c].Put(ctx, k, v.v))
					want[k] = stored{v.c, v.v}
				}
			}
			cfg := c.rebalanceConfig()
			cfg.Producer.Codec = rc
			_, err = rebalance.Add(ctx, cfg, "node-4", "")
			require.NoError(t, err)

			// check asserts that every node of members holds exactly its
			// keys, as they were written, and returns how many node-4 holds.
			check := func(members []string) (onNode4 int) {
				t.Helper()
				eventually(t, 60*time.Second, fmt.Sprintf("members %v pass", members), func() bool { return len(c.p.Members()) == len(members) })
				tb := c.table(t, members)
				for _, node := range members {
					held := map[string]stored{}
					cursor := ""
					for {
						rep, err := pm.Call(ctx, node, protocol.Request{Op: protocol.OpScan, Cursor: cursor, Limit: 10000, Raw: true})
						require.NoError(t, err)
						for _, e := range rep.Collection {
							if _, ok := want[e.Key]; ok {
								codec := e.Codec
								if codec == 0 { // stored in the scan's codec: "value", as stored
									codec = protocol.Msgpack
								}
								held[e.Key] = stored{codec, e.Value}
							}
						}
						if cursor = rep.Cursor; cursor == "" {
							break
						}
					}
					for k, v := range want {
						if !slices.Contains(tb.AppendPrefs(nil, k), node) {
							require.NotContains(t, held, k, "%s on %s", k, node)
							continue
						}
						require.Equal(t, v, held[k], "%s on %s", k, node)
						if node == "node-4" {
							onNode4++
						}
						// Read in its own codec, it is what was written.
						rep, err := producers[v.c].Call(ctx, node, protocol.Request{Op: protocol.OpGetOne, Key: k})
						require.NoError(t, err)
						require.Equal(t, v.v, rep.Value, "%s on %s", k, node)
					}
				}
				return onNode4
			}
			five := []string{"node-0", "node-1", "node-2", "node-3", "node-4"}
			require.Positive(t, check(five), "keys copied to node-4")

			// Before node-0 leaves, the nodes that are to receive its keys
			// hold stale copies of some of them in the other codec, at a
			// version older than any write: the copy, which carries the
			// source's versions, replaces them, raw too.
			four := five[1:]
			from, to := c.table(t, five), c.table(t, four)
			stale := 0
			for k, v := range want {
				for _, node := range to.AppendPrefs(nil, k) {
					if slices.Contains(from.AppendPrefs(nil, k), node) || stale >= 40 {
						continue
					}
					other, null := protocol.JSON, []byte("null")
					if v.c == protocol.JSON {
						other, null = protocol.Msgpack, []byte{0xc0}
					}
					_, err := producers[other].Call(ctx, node, protocol.Request{Op: protocol.OpPut, Key: k, Value: null,
						Version: hlc.Version{Time: 1 << 16, Writer: 7}})
					require.NoError(t, err)
					stale++
				}
			}
			require.Positive(t, stale)
			_, err = rebalance.Remove(ctx, cfg, "node-0")
			require.NoError(t, err)
			check(four)
		})
	}
}
