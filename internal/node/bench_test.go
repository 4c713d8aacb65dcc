package node

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
	"github.com/zshard/zshard/internal/store/durable"
)

// benchValue is a 100-byte value: for the node a msgpack str of 98 bytes
// (2 bytes of header), for the raw baselines 100 plain bytes.
func benchValue(c protocol.Codec) []byte {
	if c == protocol.JSON {
		return []byte(`"` + string(make100()) + `"`) // 98 letters + 2 quotes
	}
	return append([]byte{0xd9, 98}, make100()...)
}

// benchSocket creates a socket with linger 0 on the default context.
func benchSocket(b *testing.B, typ zmq.Type) *zmq.Socket {
	b.Helper()
	return ctxSocket(b, nil, typ)
}

// serverContext returns a fresh ZeroMQ context for the server side of a
// baseline, so that, as with a node, client and server each have their
// own I/O thread, as two processes would.
func serverContext(b *testing.B) *zmq.Context {
	b.Helper()
	ctx, err := zmq.NewContext()
	require.NoError(b, err)
	b.Cleanup(func() { _ = ctx.Term() })
	return ctx
}

// ctxSocket creates a socket with linger 0 on ctx (nil: the default context).
func ctxSocket(b *testing.B, ctx *zmq.Context, typ zmq.Type) *zmq.Socket {
	b.Helper()
	var s *zmq.Socket
	var err error
	if ctx == nil {
		s, err = zmq.NewSocket(typ)
	} else {
		s, err = ctx.NewSocket(typ)
	}
	require.NoError(b, err)
	require.NoError(b, s.SetLinger(0))
	require.NoError(b, s.SetRcvtimeo(safety))
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func bindAny(b *testing.B, s *zmq.Socket) string {
	b.Helper()
	require.NoError(b, s.Bind("tcp://127.0.0.1:*"))
	ep, err := s.GetLastEndpoint()
	require.NoError(b, err)
	return ep
}

// BenchmarkIngest measures the PUT throughput of the ingest path against
// raw ZeroMQ in the same run:
//
//   - raw-pushpull: one PUSH sending 100-byte messages to a PULL that only
//     receives them (messages/s);
//   - node-batch-msgpack/batch=B: one producer encoding msgpack BATCH
//     messages of B PUTs of distinct keys with 100-byte values, pushed to a
//     node's ingest endpoint, ending with a SYNC barrier, so the time
//     covers encoding, transport, decoding and applying every op (ops/s).
func BenchmarkIngest(b *testing.B) {
	b.Run("raw-pushpull/size=100", func(b *testing.B) {
		b.ReportAllocs()
		pull := ctxSocket(b, serverContext(b), zmq.PULL)
		ep := bindAny(b, pull)
		push := pushTo(b, ep)
		msg := make([]byte, 100)
		done := make(chan error, 1)
		b.ResetTimer()
		cpu := cpuTime()
		go func() { // owns pull from here on
			for range b.N {
				if _, err := pull.RecvBytes(0); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for range b.N {
			if _, err := push.SendBytes(msg, 0); err != nil {
				b.Fatal(err)
			}
		}
		require.NoError(b, <-done)
		b.StopTimer()
		reportCPU(b, cpu)
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
	})
	type engine struct {
		name  string
		batch int
		open  func(b *testing.B) Config
	}
	engines := []engine{}
	for _, batch := range []int{1, 16, 128, 1024} {
		engines = append(engines, engine{"node-batch-msgpack", batch, func(*testing.B) Config { return Config{} }})
	}
	// The bulk path on durable nodes, at the producer's BATCH size of 512.
	for _, policy := range []SyncPolicy{SyncNone, SyncBatch, SyncAlways} {
		engines = append(engines, engine{"node-batch-msgpack-durable-" + string(policy), 512, func(b *testing.B) Config {
			opts := durable.Options{}
			if policy == SyncBatch {
				opts.SyncInterval = durable.DefaultSyncInterval
			}
			st, err := durable.Open(b.TempDir(), opts)
			require.NoError(b, err)
			b.Cleanup(func() { require.NoError(b, st.Close()) })
			return Config{Store: st, Sync: policy}
		}})
	}
	engines = append(engines, engine{"node-batch-msgpack", 512, func(*testing.B) Config { return Config{} }})
	for _, e := range engines {
		batch := e.batch
		b.Run(fmt.Sprintf("%s/batch=%d", e.name, batch), func(b *testing.B) {
			b.ReportAllocs()
			n := startNode(b, e.open(b))
			push, req := pushTo(b, n.IngestEndpoint()), reqTo(b, n.RequestEndpoint())
			b.ResetTimer()
			cpu := cpuTime()
			pushPuts(b, push, b.N, batch)
			syncIngest(b, push, req, "bench")
			b.StopTimer()
			reportCPU(b, cpu)
			require.EqualValues(b, b.N, n.Store().Stats().Keys)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
		})
	}
}

// quantileMicros returns the q-quantile of the sorted lat in microseconds.
func quantileMicros(lat []time.Duration, q float64) float64 {
	return float64(lat[int(q*float64(len(lat)-1))]) / float64(time.Microsecond)
}

// reportLatency sorts lat and reports its p50 and p99 in microseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	b.ReportMetric(quantileMicros(lat, 0.50), "p50-us")
	b.ReportMetric(quantileMicros(lat, 0.99), "p99-us")
}

// echoServer binds a REP socket on a context of its own that answers n
// requests, the i-th with replies[i%len(replies)]. It returns the endpoint
// and a channel that receives the server's outcome after the n-th reply.
func echoServer(b *testing.B, replies [][]byte, n int) (string, <-chan error) {
	b.Helper()
	rep := ctxSocket(b, serverContext(b), zmq.REP)
	ep := bindAny(b, rep)
	done := make(chan error, 1)
	go func() { // owns rep from here on
		for i := range n {
			if _, err := rep.RecvBytes(0); err != nil {
				done <- err
				return
			}
			if _, err := rep.SendBytes(replies[i%len(replies)], 0); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return ep, done
}

// reqTo returns a REQ socket on the default context connected to ep.
func reqTo(b *testing.B, ep string) *zmq.Socket {
	b.Helper()
	req := benchSocket(b, zmq.REQ)
	require.NoError(b, req.Connect(ep))
	return req
}

// pushTo returns a PUSH socket on the default context connected to ep.
func pushTo(b *testing.B, ep string) *zmq.Socket {
	b.Helper()
	push := benchSocket(b, zmq.PUSH)
	require.NoError(b, push.Connect(ep))
	return push
}

// pushPuts pushes n PUTs of distinct keys (key-0 .. key-{n-1}) with
// 100-byte msgpack values on push, as msgpack BATCHes of batch ops each.
func pushPuts(b *testing.B, push *zmq.Socket, n, batch int) {
	b.Helper()
	value := benchValue(protocol.Msgpack)
	bb := protocol.NewBatchBuilder(protocol.Msgpack, nil)
	var buf []byte
	keyBuf := make([]byte, 0, 32)
	for i := 0; i < n; {
		bb.Reset(protocol.Msgpack, buf)
		for ; bb.Len() < batch && i < n; i++ {
			keyBuf = strconv.AppendInt(append(keyBuf[:0], "key-"...), int64(i), 10)
			bb.Put(string(keyBuf), value)
		}
		buf = bb.Bytes()
		if _, err := push.SendBytes(buf, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// fillStore puts key-0 .. key-{keys-1}, each holding value in codec c,
// straight into n's store.
func fillStore(b *testing.B, n *Node, keys int, c protocol.Codec, value []byte) {
	b.Helper()
	for i := range keys {
		require.NoError(b, n.Store().Put(context.Background(), fmt.Sprintf("key-%d", i), store.Value{Codec: uint8(c), Data: value}))
	}
}

// roundTrips times b.N round trips on req, the i-th sending
// reqs[i%len(reqs)] and handing its reply to check, and returns the
// latency of each.
func roundTrips(b *testing.B, req *zmq.Socket, reqs [][]byte, check func(i int, out []byte)) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		t0 := time.Now()
		if _, err := req.SendBytes(reqs[i%len(reqs)], 0); err != nil {
			b.Fatal(err)
		}
		out, err := req.RecvBytes(0)
		if err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(t0)
		check(i, out)
	}
	b.StopTimer()
	return lat
}

// BenchmarkGetOne measures GET_ONE round trips over one REQ socket against
// a raw REQ/REP echo in the same run. The echo answers with a prebuilt
// reply of the same size as the node's, so the difference is the node's
// own work: ROUTER envelope, decode, store lookup, encode.
func BenchmarkGetOne(b *testing.B) {
	const keys = 100_000
	for _, c := range codecs {
		value := benchValue(c)
		get := func(i int) []byte {
			b, _ := protocol.AppendRequest(nil, c, &protocol.Request{Op: protocol.OpGetOne, Key: fmt.Sprintf("key-%d", i%keys)})
			return b
		}
		replyTo := func(i int) []byte {
			b, _ := protocol.AppendReply(nil, c, &protocol.Reply{Op: protocol.OpGetOne, Status: protocol.StatusOK, Key: fmt.Sprintf("key-%d", i%keys), Value: value})
			return b
		}
		reqs := make([][]byte, 1024)
		for i := range reqs {
			reqs[i] = get(i * 97)
		}

		b.Run("raw-reqrep-echo/"+c.String(), func(b *testing.B) {
			b.ReportAllocs()
			replies := make([][]byte, 1024)
			for i := range replies {
				replies[i] = replyTo(i * 97)
			}
			ep, done := echoServer(b, replies, b.N)
			req := reqTo(b, ep)
			cpu := cpuTime()
			lat := roundTrips(b, req, reqs, func(int, []byte) {})
			require.NoError(b, <-done)
			reportCPU(b, cpu)
			reportLatency(b, lat)
		})

		b.Run("node-getone/"+c.String(), func(b *testing.B) {
			b.ReportAllocs()
			n := startNode(b, Config{})
			fillStore(b, n, keys, c, value)
			req := reqTo(b, n.RequestEndpoint())
			cpu := cpuTime()
			lat := roundTrips(b, req, reqs, func(i int, out []byte) {
				if want := replyTo((i & 1023) * 97); len(out) != len(want) {
					b.Fatalf("reply %q, want %q", out, want)
				}
			})
			reportCPU(b, cpu)
			reportLatency(b, lat)
		})
	}
}

// rawPushPull sends n 100-byte messages from a PUSH to a PULL (each on its
// own context) and returns the time until the last one is received.
func rawPushPull(b *testing.B, n int) time.Duration {
	pull := ctxSocket(b, serverContext(b), zmq.PULL)
	ep := bindAny(b, pull)
	push := pushTo(b, ep)
	// One message first, so the connection is up before the clock starts.
	_, err := push.SendBytes([]byte{1}, 0)
	require.NoError(b, err)
	_, err = pull.RecvBytes(0)
	require.NoError(b, err)
	msg := make([]byte, 100)
	done := make(chan error, 1)
	start := time.Now()
	go func() { // owns pull from here on
		for range n {
			if _, err := pull.RecvBytes(0); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range n {
		if _, err := push.SendBytes(msg, 0); err != nil {
			b.Fatal(err)
		}
	}
	require.NoError(b, <-done)
	return time.Since(start)
}

// nodeIngest pushes n PUTs of distinct keys with 100-byte values, as
// msgpack BATCHes of batch ops, to a fresh node and returns the time until
// a SYNC barrier confirms all are applied.
func nodeIngest(b *testing.B, n, batch int) time.Duration {
	nd := startNode(b, Config{})
	push, req := pushTo(b, nd.IngestEndpoint()), reqTo(b, nd.RequestEndpoint())
	syncIngest(b, push, req, "warm") // connections up before the clock starts
	start := time.Now()
	pushPuts(b, push, n, batch)
	syncIngest(b, push, req, "done")
	d := time.Since(start)
	require.EqualValues(b, n, nd.Store().Stats().Keys)
	return d
}

// BenchmarkIngestPaired runs the raw PUSH/PULL baseline and the node's
// msgpack BATCH ingest back to back on the same number of items in every
// iteration, and reports both rates and their ratio, so that load from
// other processes on a shared host hits both sides of each ratio alike.
// One iteration is one op on each side; run it with -benchtime=Nx.
func BenchmarkIngestPaired(b *testing.B) {
	for _, batch := range []int{128, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			b.ReportAllocs()
			raw := rawPushPull(b, b.N)
			node := nodeIngest(b, b.N, batch)
			rawRate := float64(b.N) / raw.Seconds()
			nodeRate := float64(b.N) / node.Seconds()
			b.ReportMetric(rawRate, "raw-msgs/s")
			b.ReportMetric(nodeRate, "node-ops/s")
			b.ReportMetric(nodeRate/rawRate, "x-raw")
		})
	}
}

// BenchmarkGetOnePaired interleaves, in every iteration, one round trip to
// a raw REQ/REP echo (replying with the exact bytes the node would) and one
// GET_ONE round trip to a node, over one REQ socket each, alternating which
// goes first. Both latency distributions are thus sampled under the same
// load, and the reported ratios compare like with like.
func BenchmarkGetOnePaired(b *testing.B) {
	const keys = 100_000
	for _, c := range codecs {
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			value := benchValue(c)
			nd := startNode(b, Config{})
			fillStore(b, nd, keys, c, value)
			const distinct = 1024
			reqs := make([][]byte, distinct)
			replies := make([][]byte, distinct)
			for i := range reqs {
				k := fmt.Sprintf("key-%d", (i*97)%keys)
				reqs[i], _ = protocol.AppendRequest(nil, c, &protocol.Request{Op: protocol.OpGetOne, Key: k})
				replies[i], _ = protocol.AppendReply(nil, c, &protocol.Reply{Op: protocol.OpGetOne, Status: protocol.StatusOK, Key: k, Value: value})
			}
			echoEP, done := echoServer(b, replies, b.N)
			echo := reqTo(b, echoEP)
			node := reqTo(b, nd.RequestEndpoint())
			roundTrip := func(s *zmq.Socket, msg, want []byte) time.Duration {
				t0 := time.Now()
				if _, err := s.SendBytes(msg, 0); err != nil {
					b.Fatal(err)
				}
				out, err := s.RecvBytes(0)
				if err != nil {
					b.Fatal(err)
				}
				d := time.Since(t0)
				if string(out) != string(want) {
					b.Fatalf("reply %q, want %q", out, want)
				}
				return d
			}
			echoLat := make([]time.Duration, b.N)
			nodeLat := make([]time.Duration, b.N)
			b.ResetTimer()
			for i := range b.N {
				j := i % distinct
				if i%2 == 0 {
					echoLat[i] = roundTrip(echo, reqs[j], replies[j])
					nodeLat[i] = roundTrip(node, reqs[j], replies[j])
				} else {
					nodeLat[i] = roundTrip(node, reqs[j], replies[j])
					echoLat[i] = roundTrip(echo, reqs[j], replies[j])
				}
			}
			b.StopTimer()
			require.NoError(b, <-done)
			slices.Sort(echoLat)
			slices.Sort(nodeLat)
			q := quantileMicros
			b.ReportMetric(q(echoLat, 0.5), "echo-p50-us")
			b.ReportMetric(q(echoLat, 0.99), "echo-p99-us")
			b.ReportMetric(q(nodeLat, 0.5), "node-p50-us")
			b.ReportMetric(q(nodeLat, 0.99), "node-p99-us")
			b.ReportMetric(q(nodeLat, 0.5)/q(echoLat, 0.5), "p50-x-echo")
			b.ReportMetric(q(nodeLat, 0.99)/q(echoLat, 0.99), "p99-x-echo")
		})
	}
}

// BenchmarkIngestApply measures the node's own work on the ingest path,
// without ZeroMQ: decoding msgpack BATCHes of 512 PUTs of distinct keys
// with 100-byte values and applying them as the ingest loop does, into a
// node (not started) on each engine. It reports cpu-ns/op besides ns/op:
// the steadier figure on a shared machine.
func BenchmarkIngestApply(b *testing.B) {
	const batch = 512
	for _, engine := range []string{"memory", "durable"} {
		b.Run(engine, func(b *testing.B) {
			b.ReportAllocs()
			cfg := Config{Sync: SyncNone}
			if engine == "durable" {
				st, err := durable.Open(b.TempDir(), durable.Options{})
				require.NoError(b, err)
				b.Cleanup(func() { require.NoError(b, st.Close()) })
				cfg.Store = st
			}
			n, err := New(cfg)
			require.NoError(b, err)
			b.Cleanup(func() { require.NoError(b, n.Close()) })
			value := benchValue(protocol.Msgpack)
			var msgs [][]byte
			bb := protocol.NewBatchBuilder(protocol.Msgpack, nil)
			for i := 0; i < b.N; {
				bb.Reset(protocol.Msgpack, nil)
				for ; bb.Len() < batch && i < b.N; i++ {
					bb.Put("key-"+strconv.Itoa(i), value)
				}
				msgs = append(msgs, bb.Bytes())
			}
			in := &ingester{n: n, log: ingestLog{n: n}}
			if n.batcher != nil {
				in.bulk = n.batcher.BulkBytes()
			}
			lim := n.cfg.Limits
			b.ResetTimer()
			cpu := cpuTime()
			for _, m := range msgs {
				req, c, err := protocol.DecodeRequest(m, lim)
				if err != nil {
					b.Fatal(err)
				}
				if failed, err := n.ingest(in, c, &req); failed > 0 {
					b.Fatal(err)
				}
			}
			in.flush()
			b.StopTimer()
			reportCPU(b, cpu)
			require.EqualValues(b, b.N, n.Store().Stats().Keys)
		})
	}
}
