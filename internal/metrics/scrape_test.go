package metrics_test

import (
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/metrics"
)

const sample = `# HELP zshard_ops_total Operations received.
# TYPE zshard_ops_total counter
zshard_ops_total{endpoint="request",op="PUT"} 50
zshard_ops_total{endpoint="ingest",op="PUT"} 1000
zshard_ops_total{endpoint="request",op="GET_ONE"} 7
# TYPE zshard_keys gauge
zshard_keys 1050
# TYPE zshard_request_duration_seconds histogram
zshard_request_duration_seconds_bucket{op="PUT",le="0.001"} 10
zshard_request_duration_seconds_bucket{op="PUT",le="0.01"} 90
zshard_request_duration_seconds_bucket{op="PUT",le="+Inf"} 100
zshard_request_duration_seconds_sum{op="PUT"} 0.5
zshard_request_duration_seconds_count{op="PUT"} 100
zshard_request_duration_seconds_bucket{op="GET_ONE",le="0.001"} 100
zshard_request_duration_seconds_bucket{op="GET_ONE",le="0.01"} 100
zshard_request_duration_seconds_bucket{op="GET_ONE",le="+Inf"} 100
zshard_request_duration_seconds_sum{op="GET_ONE"} 0.05
zshard_request_duration_seconds_count{op="GET_ONE"} 100
`

func TestSumAndHistogram(t *testing.T) {
	f, err := metrics.Parse(strings.NewReader(sample))
	require.NoError(t, err)
	require.EqualValues(t, 1057, f.Sum("zshard_ops_total"))
	require.EqualValues(t, 1050, f.Sum("zshard_ops_total", "op", "PUT"))
	require.EqualValues(t, 1000, f.Sum("zshard_ops_total", "op", "PUT", "endpoint", "ingest"))
	require.EqualValues(t, 0, f.Sum("zshard_ops_total", "op", "DELETE"))
	require.EqualValues(t, 0, f.Sum("absent"))
	require.EqualValues(t, 1050, f.Sum("zshard_keys"))

	put := f.Histogram("zshard_request_duration_seconds", "op", "PUT")
	require.EqualValues(t, 100, put.Count)
	require.Equal(t, []metrics.Bucket{{0.001, 10}, {0.01, 90}}, put.Buckets)
	all := f.Histogram("zshard_request_duration_seconds")
	require.EqualValues(t, 200, all.Count)
	require.Equal(t, []metrics.Bucket{{0.001, 110}, {0.01, 190}}, all.Buckets)
	require.InDelta(t, 0.55, all.Sum, 1e-9)
	require.Equal(t, put, all.Sub(f.Histogram("zshard_request_duration_seconds", "op", "GET_ONE")))
}

func TestQuantile(t *testing.T) {
	h := metrics.Histogram{Buckets: []metrics.Bucket{{1, 10}, {2, 90}, {4, 100}}, Count: 100}
	for _, tc := range []struct{ q, want float64 }{
		{0, 0}, {0.05, 0.5}, {0.1, 1}, {0.5, 1.5}, {0.9, 2}, {0.95, 3}, {1, 4},
	} {
		require.InDelta(t, tc.want, h.Quantile(tc.q), 1e-9, "q=%v", tc.q)
	}
	// Observations past the last bound count as that bound.
	h.Count = 200
	require.InDelta(t, 4, h.Quantile(0.99), 1e-9)
	require.True(t, math.IsNaN(metrics.Histogram{}.Quantile(0.5)))
	// A reading older than a restart: the new reading stands.
	old := metrics.Histogram{Buckets: []metrics.Bucket{{1, 500}}, Count: 500}
	require.Equal(t, h, h.Sub(old))
}

func TestParseRejectsJunk(t *testing.T) {
	_, err := metrics.Parse(strings.NewReader("zshard_keys{ 1\n"))
	require.Error(t, err)
}

// FuzzParse: no input makes Parse, Sum, Histogram or Quantile panic.
func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("# TYPE x histogram\nx_bucket{le=\"1\"} 3\nx_bucket{le=\"+Inf\"} 2\nx_count 1\n")
	f.Fuzz(func(t *testing.T, in string) {
		fs, err := metrics.Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		for name := range fs {
			_ = fs.Sum(name)
			h := fs.Histogram(name)
			_ = h.Quantile(0.99)
			_ = h.Sub(h).Quantile(0.5)
		}
	})
}
