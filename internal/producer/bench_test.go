package producer

import (
	"context"
	"slices"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
)

// BenchmarkGetPaired interleaves one Producer.Get and one raw GET_ONE on a
// plain DEALER socket (its own ZeroMQ context) to the same in-process node,
// and reports the p50 of each and their ratio: the producer's own cost on
// the request path, with the node's cost and the host's load cancelled out.
func BenchmarkGetPaired(b *testing.B) {
	for _, codec := range []protocol.Codec{protocol.JSON, protocol.Msgpack} {
		b.Run(codec.String(), func(b *testing.B) {
			cl := newCluster(b, testcluster.StartConsul(b))
			n := cl.addNode("node-0").RequestEndpoint()
			p := cl.producerFor(layout.Settings{}, codec)
			waitTable(b, p, 1)
			ctx := context.Background()
			val := mustEncode(b, codec, "v")
			require.NoError(b, p.Put(ctx, "k", val))

			zctx, err := zmq.NewContext()
			require.NoError(b, err)
			d, err := zctx.NewSocket(zmq.DEALER)
			require.NoError(b, err)
			require.NoError(b, d.SetLinger(0))
			require.NoError(b, d.Connect(n))
			b.Cleanup(func() { _ = d.Close(); _ = zctx.Term() })
			raw, err := protocol.AppendRequest(nil, codec, &protocol.Request{Op: protocol.OpGetOne, Key: "k"})
			require.NoError(b, err)
			rawGet := func() {
				_, err := d.SendBytes(raw, 0)
				require.NoError(b, err)
				_, err = d.RecvBytes(0)
				require.NoError(b, err)
			}
			for range 1000 {
				rawGet()
				_, _ = p.Get(ctx, "k")
			}
			dr := make([]time.Duration, 0, b.N)
			dp := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				rawGet()
				t1 := time.Now()
				if _, err := p.Get(ctx, "k"); err != nil {
					b.Fatal(err)
				}
				dr, dp = append(dr, t1.Sub(t0)), append(dp, time.Since(t1))
			}
			b.StopTimer()
			slices.Sort(dr)
			slices.Sort(dp)
			b.ReportMetric(float64(dr[len(dr)/2].Microseconds()), "raw-p50-us")
			b.ReportMetric(float64(dp[len(dp)/2].Microseconds()), "producer-p50-us")
			b.ReportMetric(float64(dp[len(dp)/2])/float64(dr[len(dr)/2]), "producer/raw-p50")
		})
	}
}
