package node

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/metrics"
	"github.com/zshard/zshard/internal/protocol"
)

// scrape serves n's collector over HTTP, as the node runtime does, and
// returns one scrape parsed by the Prometheus text parser.
func scrape(t testing.TB, n *Node) metrics.Families {
	t.Helper()
	reg, err := metrics.NewRegistry(n.Collector())
	require.NoError(t, err)
	srv, err := metrics.Serve("127.0.0.1", 0, reg, nil)
	require.NoError(t, err)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	f, err := metrics.Scrape(ctx, http.DefaultClient, metrics.URL("127.0.0.1", srv.Port()))
	require.NoError(t, err)
	return f
}

// TestMetricsCountEachEndpoint: the counters equal the operations sent on
// each endpoint (those inside a BATCH one by one), errors count by code,
// the gauges follow the store, the histograms have buckets, and every
// figure agrees with STATS.
func TestMetricsCountEachEndpoint(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			n, req, push := startWithClients(t, Config{Metrics: true})
			const puts, pushed, perBatch = 7, 5, 40
			for i := range puts {
				mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpPut, Key: fmt.Sprintf("r-%d", i), Value: val(t, c, i)}))
			}
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: "r-0"}))
			mustErr(t, call(t, req, c, protocol.Request{Op: protocol.OpGetOne, Key: "absent"}), protocol.CodeNotFound)
			mustOK(t, call(t, req, c, protocol.Request{Op: protocol.OpBatch, Ops: []protocol.Request{
				{Op: protocol.OpPut, Key: "b-0", Value: val(t, c, 0)}, {Op: protocol.OpDelete, Key: "r-1"}}}))
			for b := range pushed {
				r := protocol.Request{Op: protocol.OpBatch}
				for i := range perBatch {
					r.Ops = append(r.Ops, protocol.Request{Op: protocol.OpPut, Key: fmt.Sprintf("i-%d-%d", b, i), Value: val(t, c, i)})
				}
				_, err := push.SendBytes(encodeReq(t, c, r), 0)
				require.NoError(t, err)
			}
			syncIngest(t, push, req, "metrics")

			f := scrape(t, n)
			op := func(o protocol.Op, ep string) float64 {
				return f.Sum(MetricOps, "op", o.String(), "endpoint", ep)
			}
			require.EqualValues(t, puts+1, op(protocol.OpPut, EndpointRequest), "PUTs alone and inside the BATCH")
			require.EqualValues(t, pushed*perBatch, op(protocol.OpPut, EndpointIngest))
			require.EqualValues(t, pushed, op(protocol.OpBatch, EndpointIngest))
			require.EqualValues(t, 1, op(protocol.OpBatch, EndpointRequest))
			require.EqualValues(t, 1, op(protocol.OpDelete, EndpointRequest))
			require.EqualValues(t, 2, op(protocol.OpGetOne, EndpointRequest))
			require.EqualValues(t, 1, op(protocol.OpSync, EndpointIngest))
			require.EqualValues(t, 1, op(protocol.OpSync, EndpointRequest))
			require.EqualValues(t, 1, f.Sum(MetricErrors, "code", string(protocol.CodeNotFound)))
			require.EqualValues(t, puts-1+1+pushed*perBatch, f.Sum(MetricKeys))
			require.EqualValues(t, 1, f.Sum(MetricTombstones))
			require.EqualValues(t, 1, f.Sum(MetricNodeInfo, "node", DefaultName))
			require.EqualValues(t, 0, f.Sum(MetricCatchingUp))

			dur := f.Histogram(MetricRequestDuration, "op", "PUT")
			require.EqualValues(t, puts, dur.Count, "one observation per PUT request")
			require.NotEmpty(t, dur.Buckets)
			require.EqualValues(t, puts, dur.Buckets[len(dur.Buckets)-1].Count)
			require.EqualValues(t, 2, f.Histogram(MetricRequestDuration, "op", "GET_ONE").Count)
			batches := f.Histogram(MetricIngestBatchOps)
			require.EqualValues(t, pushed+1, batches.Count, "the BATCHes and the SYNC")
			require.EqualValues(t, pushed*perBatch+1, batches.Sum)
			require.EqualValues(t, 1, f.Histogram(MetricSyncWait).Count)

			requireAgreesWithStats(t, n.Stats(), f)
		})
	}
}

// requireAgreesWithStats checks that every counter of STATS equals the
// metrics that report it.
func requireAgreesWithStats(t *testing.T, st protocol.Stats, f metrics.Families) {
	t.Helper()
	for _, o := range protocol.Ops {
		require.EqualValues(t, st.Ops[o.String()], f.Sum(MetricOps, "op", o.String()), "op %v", o)
	}
	for _, code := range protocol.Codes {
		require.EqualValues(t, st.Errors[string(code)], f.Sum(MetricErrors, "code", string(code)), "code %s", code)
	}
	for ep, es := range st.Endpoints {
		require.EqualValues(t, es.Messages, f.Sum(MetricMessages, "endpoint", ep), ep)
		require.EqualValues(t, es.Bytes, f.Sum(MetricReceivedBytes, "endpoint", ep), ep)
		require.EqualValues(t, es.Errors, f.Sum(MetricFailedMessages, "endpoint", ep), ep)
	}
	require.EqualValues(t, st.Keys, f.Sum(MetricKeys))
	require.EqualValues(t, st.Bytes, f.Sum(MetricBytes))
	require.EqualValues(t, st.Tombstones, f.Sum(MetricTombstones))
}

// TestMetricsOff: without Config.Metrics the counters are still there
// (STATS keeps them) and the histograms are not.
func TestMetricsOff(t *testing.T) {
	n, req, _ := startWithClients(t, Config{})
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "k", Value: []byte(`"v"`)}))
	f := scrape(t, n)
	require.EqualValues(t, 1, f.Sum(MetricOps, "op", "PUT", "endpoint", EndpointRequest))
	require.EqualValues(t, 1, f.Sum(MetricKeys))
	for _, name := range []string{MetricRequestDuration, MetricIngestBatchOps, MetricSyncWait} {
		require.NotContains(t, f, name)
	}
}

// TestMetricsCollectorRegisters: the collector describes what it
// collects, so a registry's consistency checks pass with metrics on and
// off.
func TestMetricsCollectorRegisters(t *testing.T) {
	for _, on := range []bool{false, true} {
		n := startNode(t, Config{Metrics: on})
		reg := prometheus.NewPedanticRegistry()
		require.NoError(t, reg.Register(n.Collector()))
		_, err := reg.Gather()
		require.NoError(t, err)
	}
}

// BenchmarkMetricsCost measures GET_ONE round trips and pushed ingest
// with the node's metrics off and on, in the same run: run it with
// -count 6 or more, which interleaves the two, and compare with
// `benchstat -col /metrics`.
func BenchmarkMetricsCost(b *testing.B) {
	const keys = 100_000
	c := protocol.Msgpack
	value := benchValue(c)
	reqs := make([][]byte, 1024)
	for i := range reqs {
		reqs[i], _ = protocol.AppendRequest(nil, c, &protocol.Request{Op: protocol.OpGetOne, Key: fmt.Sprintf("key-%d", (i*97)%keys)})
	}
	for _, on := range []bool{false, true} {
		state := map[bool]string{false: "off", true: "on"}[on]
		b.Run("getone/metrics="+state, func(b *testing.B) {
			b.ReportAllocs()
			n := startNode(b, Config{Metrics: on})
			fillStore(b, n, keys, c, value)
			req := reqTo(b, n.RequestEndpoint())
			cpu := cpuTime()
			lat := roundTrips(b, req, reqs, func(int, []byte) {})
			reportCPU(b, cpu)
			reportLatency(b, lat)
		})
		b.Run("ingest/metrics="+state, func(b *testing.B) {
			b.ReportAllocs()
			n := startNode(b, Config{Metrics: on})
			push, req := pushTo(b, n.IngestEndpoint()), reqTo(b, n.RequestEndpoint())
			syncIngest(b, push, req, "warm")
			cpu := cpuTime()
			b.ResetTimer()
			pushPuts(b, push, b.N, 128)
			syncIngest(b, push, req, "done")
			b.StopTimer()
			reportCPU(b, cpu)
			require.EqualValues(b, b.N, n.Store().Stats().Keys)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}
