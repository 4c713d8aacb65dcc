package rebalance_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/sharding"
)

// TestFigureAddFifthNode measures the docs/BENCHMARKS.md "Rebalancing"
// figure: 4 nodes holding ZSHARD_REBALANCE_FIGURE_KEYS keys (e.g. 1000000)
// with the default P (ZSHARD_REBALANCE_FIGURE_PARTITIONS changes it), add
// node-4, and in the same run bulk-load as many new keys as the rebalance
// moved; it logs both times and their ratio. It only runs when the variable
// is set, and asserts correctness, not timings. ZSHARD_REBALANCE_FIGURE_PROFILE
// names a file for the CPU profile of the rebalancer during the add.
//
//	ZSHARD_REBALANCE_FIGURE_KEYS=1000000 go test ./internal/rebalance -run TestFigureAddFifthNode -v -count=1
func TestFigureAddFifthNode(t *testing.T) {
	s := os.Getenv("ZSHARD_REBALANCE_FIGURE_KEYS")
	if s == "" || testing.Short() {
		t.Skip("set ZSHARD_REBALANCE_FIGURE_KEYS to measure the rebalancing figure")
	}
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	alg := os.Getenv("ZSHARD_REBALANCE_FIGURE_HASH")
	if alg == "" {
		alg = sharding.Consistent
	}
	// The product's default P unless told otherwise.
	p := sharding.DefaultPartitions
	if s := os.Getenv("ZSHARD_REBALANCE_FIGURE_PARTITIONS"); s != "" {
		p, err = strconv.Atoi(s)
		require.NoError(t, err)
	}
	old := testPartitions
	testPartitions = p
	t.Cleanup(func() { testPartitions = old })
	t0 := time.Now()
	c := startCluster(t, alg, 0, n)
	t.Logf("loaded %d keys on 4 nodes (%s, R=0, P=%d) in %v", n, alg, testPartitions, time.Since(t0))

	cfg := c.rebalanceConfig()
	cfg.Grace = rebalance.DefaultGrace
	if f := os.Getenv("ZSHARD_REBALANCE_FIGURE_PROFILE"); f != "" {
		// The CPU profile of this process (the rebalancer) during the add.
		out, err := os.Create(f)
		require.NoError(t, err)
		require.NoError(t, pprof.StartCPUProfile(out))
		defer func() { pprof.StopCPUProfile(); _ = out.Close() }()
	}
	rep, err := rebalance.Add(context.Background(), cfg, "node-4", "")
	require.NoError(t, err)
	pprof.StopCPUProfile()
	moving := rep.Copy + rep.Verify + rep.Clean
	t.Logf("add node-4: moved %d keys (%d bytes), optimum %d; join %v, copy %v, verify %v, delete %v (moving %v); total %v with 3 grace periods of %v",
		rep.Moved(), rep.Bytes, rep.Optimum, rep.Join, rep.Copy, rep.Verify, rep.Clean, moving, rep.Total, cfg.Grace)

	// Bulk-load as many fresh keys, of the same size, into the 5 nodes.
	ctx := context.Background()
	b, err := c.p.NewBulk()
	require.NoError(t, err)
	t1 := time.Now()
	for i := range int(rep.Moved()) {
		k := fmt.Sprintf("bulk-%06d", i)
		require.NoError(t, b.Put(ctx, k, fmt.Appendf(nil, `{"i":%d,"pad":"%032d"}`, i, i)))
	}
	require.NoError(t, b.Sync(ctx))
	bulk := time.Since(t1)
	require.NoError(t, b.Close())
	t.Logf("bulk load of %d keys: %v", rep.Moved(), bulk)
	t.Logf("FIGURE keys=%d moved=%d rebalance_moving=%v rebalance_total=%v bulk=%v ratio_moving=%.2f ratio_total_minus_grace_and_join=%.2f",
		n, rep.Moved(), moving.Round(time.Millisecond), rep.Total.Round(time.Millisecond), bulk.Round(time.Millisecond),
		moving.Seconds()/bulk.Seconds(), (rep.Total-rep.Join-3*cfg.Grace).Seconds()/bulk.Seconds())
}
