package noderun_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// caughtUp is a slog handler that hands over the attributes of the
// catch-up's "caught up" record.
type caughtUp struct{ ch chan map[string]slog.Value }

func (h caughtUp) Enabled(context.Context, slog.Level) bool { return true }
func (h caughtUp) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h caughtUp) WithGroup(string) slog.Handler            { return h }
func (h caughtUp) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "caught up" {
		attrs := map[string]slog.Value{}
		r.Attrs(func(a slog.Attr) bool { attrs[a.Key] = a.Value; return true })
		h.ch <- attrs
	}
	return nil
}

// BenchmarkCatchUp measures how fast an in-memory node that restarts
// empty catches up (an integration benchmark, skipped with -short): four
// in-process in-memory nodes, R=2, the keys (100-byte values, versioned)
// loaded straight into the stores of the three ready nodes, then node-d
// started empty, again in every iteration, until it is ready. It reports
// records-per-s, the records node-d applied per second of its catch-up
// proper (scans of its ready replicas and applies; the catch-up's own
// figure), and ready-s, the time from its start to its registration as
// ready (with a 1 ms settle). Run it alone, with -benchtime=Nx.
func BenchmarkCatchUp(b *testing.B) {
	if testing.Short() {
		b.Skip("integration benchmark")
	}
	const keys = 200_000
	ctx := context.Background()
	agent := testcluster.StartConsul(b)
	cc, err := consul.New(consul.Config{Addr: agent.Addr})
	require.NoError(b, err)
	members := []string{"node-a", "node-b", "node-c", "node-d"}
	settings := layout.Settings{Algorithm: sharding.Rendezvous, Partitions: 4096, Replicas: 2, Epoch: 1, Members: members}
	stores := map[string]store.Store{}
	for _, name := range members[:3] {
		st := store.NewMemory(store.MemoryOptions{})
		b.Cleanup(func() { _ = st.Close() })
		stores[name] = st
		runNode(b, noderun.Config{Node: node.Config{Name: name, Bind: "127.0.0.1", Store: st}, Consul: cc})
	}
	eventually(b, "three nodes pass", func() bool { return len(passing(b, cc)) == 3 })
	_, _, err = cc.InitSettings(ctx, settings)
	require.NoError(b, err)
	table, err := settings.Table(members)
	require.NoError(b, err)
	value := append(append([]byte{'"'}, make([]byte, 98)...), '"')
	for i := range value[1 : len(value)-1] {
		value[1+i] = 'a' + byte(i%26)
	}
	clock := hlc.NewClock(hlc.WriterOf("loader"), 0)
	held := 0
	var prefs []string
	for i := range keys {
		k := fmt.Sprintf("key-%07d", i)
		v := store.Value{Codec: uint8(protocol.JSON), Data: value, Version: clock.Now()}
		prefs = table.AppendPrefs(prefs[:0], k)
		for _, name := range prefs {
			if st := stores[name]; st != nil {
				_, err := st.Apply(ctx, k, v)
				require.NoError(b, err)
			} else {
				held++
			}
		}
	}

	var applied, took, ready float64
	runs := 0
	for b.Loop() {
		st := store.NewMemory(store.MemoryOptions{})
		log := caughtUp{ch: make(chan map[string]slog.Value, 1)}
		start := time.Now()
		srv, err := noderun.Start(ctx, noderun.Config{Node: node.Config{Name: "node-d", Bind: "127.0.0.1", Store: st},
			Consul: cc, CatchUpSettle: time.Millisecond, Logger: slog.New(log)})
		require.NoError(b, err)
		attrs := testcluster.Receive(b, log.ch, time.Minute, "the catch-up's end")
		eventually(b, "node-d is ready", func() bool { m, ok := member(b, cc, "node-d"); return ok && m.Ready })
		ready += time.Since(start).Seconds()
		applied += float64(attrs["records_applied"].Int64())
		took += attrs["took"].Duration().Seconds()
		runs++
		require.Equal(b, int64(held), st.Stats().Keys)
		srv.Stop()
		require.NoError(b, st.Close())
	}
	b.ReportMetric(float64(held), "keys-held")
	b.ReportMetric(applied/took, "records-per-s")
	b.ReportMetric(ready/float64(runs), "ready-s")
}
