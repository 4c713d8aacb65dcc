package main

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/metrics"
)

func parseSample(t *testing.T, at time.Time, puts, batches int, fast, slow int) sample {
	t.Helper()
	text := `# TYPE zshard_ops_total counter
zshard_ops_total{endpoint="ingest",op="PUT"} ` + strconv.Itoa(puts) + `
zshard_ops_total{endpoint="ingest",op="BATCH"} ` + strconv.Itoa(batches) + `
# TYPE zshard_keys gauge
zshard_keys 42
# TYPE zshard_request_duration_seconds histogram
zshard_request_duration_seconds_bucket{op="GET_ONE",le="0.001"} ` + strconv.Itoa(fast) + `
zshard_request_duration_seconds_bucket{op="GET_ONE",le="0.01"} ` + strconv.Itoa(fast+slow) + `
zshard_request_duration_seconds_bucket{op="GET_ONE",le="+Inf"} ` + strconv.Itoa(fast+slow) + `
zshard_request_duration_seconds_sum{op="GET_ONE"} 1
zshard_request_duration_seconds_count{op="GET_ONE"} ` + strconv.Itoa(fast+slow) + `
`
	f, err := metrics.Parse(strings.NewReader(text))
	require.NoError(t, err)
	return sampleOf(f, at)
}

// TestWatchRates: ops/s counts the operations between two scrapes
// (BATCHes left out, their operations in), p99 is that of the requests
// timed between them, and the first scrape or a restarted node has none.
func TestWatchRates(t *testing.T) {
	t0 := time.Now()
	a := parseSample(t, t0, 1000, 10, 100, 0)
	require.EqualValues(t, 1000, a.ops)
	require.EqualValues(t, 42, a.keys)
	ops, p99 := rates(sample{}, false, a)
	require.True(t, math.IsNaN(ops) && math.IsNaN(p99), "no rate from one scrape")

	b := parseSample(t, t0.Add(2*time.Second), 5000, 50, 100, 100)
	ops, p99 = rates(a, true, b)
	require.InDelta(t, 2000, ops, 1e-6)
	require.InDelta(t, 0.001+0.009*(99-0)/100, p99, 1e-9, "all 100 new requests were slow")

	ops, _ = rates(b, true, a)
	require.True(t, math.IsNaN(ops), "counters went down: the node restarted")
}
