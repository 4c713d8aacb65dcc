package node

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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

// BenchmarkCurvePaired compares a node running CURVE with a plaintext one
// in the same run, for the two figures docs/BENCHMARKS.md records:
//
//   - put: b.N PUTs of distinct keys with 100-byte values pushed as
//     msgpack BATCHes of 512 to each node, in chunks sent to one node then
//     the other (alternating which goes first), each timed until a SYNC
//     barrier confirms it; it reports both rates and curve/plain, and the
//     process's CPU time per PUT on each side (client and node, both in
//     this process) with plain/curve, the steadier figure on a shared host.
//   - get: b.N GET_ONE round trips to each node over one REQ socket each,
//     interleaved (alternating which goes first), and the p50 latencies
//     and curve/plain.
func BenchmarkCurvePaired(b *testing.B) {
	cfg, kp := benchCurve(b)
	b.Run("put", func(b *testing.B) {
		b.ReportAllocs()
		type side struct {
			push, req *zmq.Socket
			n         *Node
			wall, cpu time.Duration
			tokens    int
		}
		sides := [2]*side{{}, {}} // plaintext, CURVE
		for i, c := range []*curve.ServerConfig{nil, cfg} {
			s := sides[i]
			s.n = startNode(b, Config{Curve: c})
			s.push, s.req = benchClients(b, s.n, kp)
			syncIngest(b, s.push, s.req, "warm")
		}
		// Chunks of the b.N PUTs go to each node in turn, alternating which
		// goes first, so that load from elsewhere hits both sides alike.
		const chunk = 16384
		b.ResetTimer()
		for from, k := 0, 0; from < b.N; from, k = from+chunk, k+1 {
			n := min(chunk, b.N-from)
			for j := range 2 {
				s := sides[(k+j)%2]
				c0, t0 := cpuTime(), time.Now()
				pushPutsFrom(b, s.push, from, n, 512)
				s.tokens++
				syncIngest(b, s.push, s.req, fmt.Sprintf("t%d", s.tokens))
				s.wall += time.Since(t0)
				s.cpu += cpuTime() - c0
			}
		}
		b.StopTimer()
		for _, s := range sides {
			require.EqualValues(b, b.N, s.n.Store().Stats().Keys)
		}
		plain, secure := sides[0], sides[1]
		pr, cr := float64(b.N)/plain.wall.Seconds(), float64(b.N)/secure.wall.Seconds()
		b.ReportMetric(pr, "plain-ops/s")
		b.ReportMetric(cr, "curve-ops/s")
		b.ReportMetric(cr/pr, "x-plain")
		b.ReportMetric(float64(plain.cpu)/float64(b.N), "plain-cpu-ns/op")
		b.ReportMetric(float64(secure.cpu)/float64(b.N), "curve-cpu-ns/op")
		b.ReportMetric(float64(plain.cpu)/float64(secure.cpu), "cpu-x-plain")
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

// pushPutsFrom pushes n PUTs of keys key-{from} .. key-{from+n-1} with
// 100-byte msgpack values on push, as msgpack BATCHes of batch ops each.
func pushPutsFrom(b *testing.B, push *zmq.Socket, from, n, batch int) {
	b.Helper()
	value := benchValue(protocol.Msgpack)
	bb := protocol.NewBatchBuilder(protocol.Msgpack, nil)
	var buf []byte
	for i := from; i < from+n; {
		bb.Reset(protocol.Msgpack, buf)
		for ; bb.Len() < batch && i < from+n; i++ {
			bb.Put("key-"+strconv.Itoa(i), value)
		}
		buf = bb.Bytes()
		if _, err := push.SendBytes(buf, 0); err != nil {
			b.Fatal(err)
		}
	}
}
