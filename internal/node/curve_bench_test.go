package node

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/protocol"
)

// benchCurve returns a CURVE configuration admitting one client key, and
// that key.
func benchCurve(b *testing.B) (*curve.ServerConfig, curve.Keypair) {
	b.Helper()
	if err := curve.Available(); err != nil {
		b.Skip(err)
	}
	server, err := curve.Generate()
	require.NoError(b, err)
	client, err := curve.Generate()
	require.NoError(b, err)
	dir := b.TempDir()
	require.NoError(b, os.WriteFile(filepath.Join(dir, "c.pub"), []byte(client.Public), 0o644))
	return &curve.ServerConfig{Key: server, ClientsDir: dir}, client
}

// benchClients returns a PUSH and a REQ socket connected to n, as CURVE
// clients with key kp when n runs CURVE.
func benchClients(b *testing.B, n *Node, kp curve.Keypair) (push, req *zmq.Socket) {
	b.Helper()
	mk := func(typ zmq.Type, ep string) *zmq.Socket {
		s := benchSocket(b, typ)
		if k := n.CurvePublicKey(); k != "" {
			require.NoError(b, s.ClientAuthCurve(k, kp.Public, kp.Secret))
		}
		require.NoError(b, s.Connect(ep))
		return s
	}
	return mk(zmq.PUSH, n.IngestEndpoint()), mk(zmq.REQ, n.RequestEndpoint())
}

// curvePutRuns counts the runs of BenchmarkCurvePaired/put.
var curvePutRuns int

// BenchmarkCurvePaired compares a node running CURVE with a plaintext one
// in the same run, for the two figures docs/BENCHMARKS.md records:
//
//   - put: b.N PUTs of distinct keys with 100-byte values pushed as
//     msgpack BATCHes of 512 to a fresh node of each kind (which goes first
//     alternates from one run to the next), each timed until a SYNC barrier confirms them;
//     it reports both rates and curve/plain.
//   - get: b.N GET_ONE round trips to each node over one REQ socket each,
//     interleaved (alternating which goes first), and the p50 latencies
//     and curve/plain.
func BenchmarkCurvePaired(b *testing.B) {
	cfg, kp := benchCurve(b)
	b.Run("put", func(b *testing.B) {
		b.ReportAllocs()
		ingest := func(c *curve.ServerConfig) time.Duration {
			nd := startNode(b, Config{Curve: c})
			push, req := benchClients(b, nd, kp)
			syncIngest(b, push, req, "warm")
			start := time.Now()
			pushPuts(b, push, b.N, 512)
			syncIngest(b, push, req, "done")
			d := time.Since(start)
			require.EqualValues(b, b.N, nd.Store().Stats().Keys)
			return d
		}
		var plain, secure time.Duration
		curvePutRuns++
		if curvePutRuns%2 == 0 {
			plain, secure = ingest(nil), ingest(cfg)
		} else {
			secure, plain = ingest(cfg), ingest(nil)
		}
		pr, cr := float64(b.N)/plain.Seconds(), float64(b.N)/secure.Seconds()
		b.ReportMetric(pr, "plain-ops/s")
		b.ReportMetric(cr, "curve-ops/s")
		b.ReportMetric(cr/pr, "x-plain")
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		const keys = 10_000
		value := benchValue(protocol.Msgpack)
		nodes := []*Node{startNode(b, Config{}), startNode(b, Config{Curve: cfg})}
		var socks []*zmq.Socket
		for _, nd := range nodes {
			fillStore(b, nd, keys, protocol.Msgpack, value)
			_, req := benchClients(b, nd, kp)
			socks = append(socks, req)
		}
		const distinct = 1024
		reqs := make([][]byte, distinct)
		for i := range reqs {
			reqs[i], _ = protocol.AppendRequest(nil, protocol.Msgpack, &protocol.Request{Op: protocol.OpGetOne, Key: fmt.Sprintf("key-%d", (i*97)%keys)})
		}
		roundTrip := func(s *zmq.Socket, msg []byte) time.Duration {
			t0 := time.Now()
			if _, err := s.SendBytes(msg, 0); err != nil {
				b.Fatal(err)
			}
			out, err := s.RecvBytes(0)
			if err != nil {
				b.Fatal(err)
			}
			d := time.Since(t0)
			if rep, _, err := protocol.DecodeReply(out); err != nil || rep.Status != protocol.StatusOK {
				b.Fatalf("reply %q: %v", out, err)
			}
			return d
		}
		for _, s := range socks { // connections and handshakes done
			roundTrip(s, reqs[0])
		}
		lat := [2][]time.Duration{make([]time.Duration, b.N), make([]time.Duration, b.N)}
		b.ResetTimer()
		for i := range b.N {
			first := i % 2
			for k := range 2 {
				j := (first + k) % 2
				lat[j][i] = roundTrip(socks[j], reqs[i%distinct])
			}
		}
		b.StopTimer()
		slices.Sort(lat[0])
		slices.Sort(lat[1])
		p50, c50 := quantileMicros(lat[0], 0.5), quantileMicros(lat[1], 0.5)
		b.ReportMetric(p50, "plain-p50-us")
		b.ReportMetric(c50, "curve-p50-us")
		b.ReportMetric(c50/p50, "p50-x-plain")
		b.ReportMetric(quantileMicros(lat[0], 0.99), "plain-p99-us")
		b.ReportMetric(quantileMicros(lat[1], 0.99), "curve-p99-us")
	})
}
