package node

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/curve"
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
			require.EqualValues(t, 1, f.Sum(MetricNodeInfo, "name", DefaultName))
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
	require.NotNil(t, st.Memory)
	require.EqualValues(t, st.Memory.BudgetBytes, f.Sum(MetricMemoryBudget))
	require.EqualValues(t, st.Memory.PeakBytes, f.Sum(MetricMemoryPeak))
	require.EqualValues(t, st.Memory.Rejected, f.Sum(MetricMemoryRejected))
	if st.Curve != nil {
		require.EqualValues(t, st.Curve.Refused, f.Sum(MetricCurveRefused))
		require.EqualValues(t, st.Curve.Forbidden, f.Sum(MetricCurveForbidden))
	}
}

// TestMetricsMemoryBudget: the budget's rejections and peak show in the
// metrics as in STATS.
func TestMetricsMemoryBudget(t *testing.T) {
	n, req, _ := startWithClients(t, Config{MemoryBudget: 1 << 20})
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpPut, Key: "k", Value: val(t, protocol.JSON, 1)}))
	mustOK(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetAll}))
	require.Eventually(t, func() bool { return n.large.budget.inUse() == 0 }, safety, time.Millisecond)
	require.True(t, n.large.budget.reserve("someone", 1<<20))
	mustErr(t, call(t, req, protocol.JSON, protocol.Request{Op: protocol.OpGetAll}), protocol.CodeBusy)
	n.large.budget.release("someone", 1<<20)

	f := scrape(t, n)
	require.EqualValues(t, 1<<20, f.Sum(MetricMemoryBudget))
	require.EqualValues(t, 1, f.Sum(MetricMemoryRejected))
	require.EqualValues(t, 1, f.Sum(MetricErrors, "code", string(protocol.CodeBusy)))
	require.GreaterOrEqual(t, f.Sum(MetricMemoryPeak), float64(1<<20))
	requireAgreesWithStats(t, n.Stats(), f)
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

// BenchmarkMetricsCost compares a node with its metrics on against one
// with them off, side by side in every iteration so that the load of a
// shared machine hits both alike (as BenchmarkGetOnePaired does):
//
//   - getone: one GET_ONE round trip to each node per iteration,
//     alternating which goes first; it reports both p50 and p99 and their
//     ratios on/off;
//   - ingest: the ingest loop's work on one message, without ZeroMQ (a
//     msgpack BATCH of 128 PUTs decoded, counted and applied, as
//     onIngest does), each message timed, alternating which node gets
//     the next; b.N PUTs per node; it reports the median time per PUT of
//     each and their ratio on/off. (Pushed over ZeroMQ in blocks, the
//     ingest rate of either node moved by 2x between runs on a loaded
//     machine, hiding any difference.)
//
// Run it with -count 6 or more and read the ratios with benchstat.
func BenchmarkMetricsCost(b *testing.B) {
	b.Run("getone", func(b *testing.B) {
		const keys = 100_000
		c := protocol.Msgpack
		value := benchValue(c)
		reqs := make([][]byte, 1024)
		for i := range reqs {
			reqs[i], _ = protocol.AppendRequest(nil, c, &protocol.Request{Op: protocol.OpGetOne, Key: fmt.Sprintf("key-%d", (i*97)%keys)})
		}
		b.ReportAllocs()
		off, on := startNode(b, Config{}), startNode(b, Config{Metrics: true})
		fillStore(b, off, keys, c, value)
		fillStore(b, on, keys, c, value)
		offReq, onReq := reqTo(b, off.RequestEndpoint()), reqTo(b, on.RequestEndpoint())
		roundTrip := func(s *zmq.Socket, msg []byte) time.Duration {
			t0 := time.Now()
			if _, err := s.SendBytes(msg, 0); err != nil {
				b.Fatal(err)
			}
			if _, err := s.RecvBytes(0); err != nil {
				b.Fatal(err)
			}
			return time.Since(t0)
		}
		offLat, onLat := make([]time.Duration, b.N), make([]time.Duration, b.N)
		b.ResetTimer()
		for i := range b.N {
			msg := reqs[i%len(reqs)]
			if i%2 == 0 {
				offLat[i] = roundTrip(offReq, msg)
				onLat[i] = roundTrip(onReq, msg)
			} else {
				onLat[i] = roundTrip(onReq, msg)
				offLat[i] = roundTrip(offReq, msg)
			}
		}
		b.StopTimer()
		slices.Sort(offLat)
		slices.Sort(onLat)
		q := quantileMicros
		b.ReportMetric(q(offLat, 0.5), "off-p50-us")
		b.ReportMetric(q(onLat, 0.5), "on-p50-us")
		b.ReportMetric(q(onLat, 0.5)/q(offLat, 0.5), "p50-on/off")
		b.ReportMetric(q(onLat, 0.99)/q(offLat, 0.99), "p99-on/off")
		require.EqualValues(b, b.N, scrape(b, on).Histogram(MetricRequestDuration, "op", "GET_ONE").Count)
	})
	b.Run("ingest", func(b *testing.B) {
		const batch = 128
		b.ReportAllocs()
		off, on := startNode(b, Config{}), startNode(b, Config{Metrics: true})
		value := benchValue(protocol.Msgpack)
		bb := protocol.NewBatchBuilder(protocol.Msgpack, nil)
		var msgs [][]byte
		for i := 0; i < b.N; {
			bb.Reset(protocol.Msgpack, nil)
			for ; bb.Len() < batch && i < b.N; i++ {
				bb.Put("key-"+strconv.Itoa(i), value)
			}
			msgs = append(msgs, bb.Bytes())
		}
		type side struct {
			in  *ingester
			lat []time.Duration
		}
		sides := []*side{{in: &ingester{n: off, log: ingestLog{n: off}}}, {in: &ingester{n: on, log: ingestLog{n: on}}}}
		b.ResetTimer()
		for k, m := range msgs {
			for j := range 2 {
				s := sides[(k+j)%2]
				t0 := time.Now()
				s.in.n.onIngest([][]byte{m}, s.in, curve.RoleAdmin)
				s.in.flush()
				s.lat = append(s.lat, time.Since(t0))
			}
		}
		b.StopTimer()
		for _, s := range sides {
			require.EqualValues(b, b.N, s.in.n.Store().Stats().Keys)
			slices.Sort(s.lat)
		}
		perPut := func(s *side) float64 { return float64(s.lat[len(s.lat)/2].Nanoseconds()) / batch }
		b.ReportMetric(perPut(sides[0]), "off-ns/put")
		b.ReportMetric(perPut(sides[1]), "on-ns/put")
		b.ReportMetric(perPut(sides[1])/perPut(sides[0]), "on/off")
		require.EqualValues(b, len(msgs), scrape(b, on).Histogram(MetricIngestBatchOps).Count)
	})
}
