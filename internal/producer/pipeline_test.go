package producer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/testcluster"
)

// unitProducer returns a Producer that routes over members as given, with
// no Consul behind it (no watch follows membership).
func unitProducer(t *testing.T, cfg Config, members ...consul.Member) *Producer {
	t.Helper()
	cfg = cfg.withDefaults()
	zctx, err := zmq.NewContext()
	require.NoError(t, err)
	p := &Producer{
		cfg: cfg, log: cfg.Logger, zctx: zctx, codec: cfg.Codec,
		settings: cfg.Settings, members: members,
		bulks: map[*Bulk]struct{}{}, cancel: func() {}, clock: hlc.NewClock(1, 0),
	}
	p.gateCnd = sync.NewCond(&p.gateMu)
	p.stored.Store(true)
	require.NoError(t, p.rebuild())
	t.Cleanup(func() { require.NoError(t, p.Close()) })
	return p
}

// freeEndpoint returns a tcp endpoint on 127.0.0.1 nobody listens on.
func freeEndpoint(t *testing.T) string {
	t.Helper()
	port, err := testcluster.FreePorts(1)
	require.NoError(t, err)
	return fmt.Sprintf("tcp://127.0.0.1:%d", port[0])
}

// silentNode binds a ROUTER at a fresh endpoint that takes requests and
// never answers; received gets one value per request message.
func silentNode(t *testing.T) (ep string, received <-chan struct{}) {
	t.Helper()
	zctx, err := zmq.NewContext()
	require.NoError(t, err)
	s, err := zctx.NewSocket(zmq.ROUTER)
	require.NoError(t, err)
	require.NoError(t, s.SetLinger(0))
	require.NoError(t, s.SetRcvtimeo(10*time.Millisecond))
	ep = freeEndpoint(t)
	require.NoError(t, s.Bind(ep))
	got := make(chan struct{}, 1<<16)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // owns s
		defer close(done)
		for {
			select {
			case <-stop:
				_ = s.Close()
				return
			default:
			}
			if _, err := s.RecvMessageBytes(0); err == nil {
				got <- struct{}{}
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		_ = zctx.Term()
	})
	return ep, got
}

func member(name, ep string) consul.Member {
	return consul.Member{Name: name, RepURL: ep, PullURL: ep, Ready: true}
}

// doAsync runs Do on its own goroutine; the channel yields its error once
// every result came in, exactly once each.
func doAsync(t *testing.T, p *Producer, ctx context.Context, ops []Op) (<-chan error, []Result) {
	t.Helper()
	results := make([]Result, len(ops))
	seen := make([]int, len(ops))
	out := make(chan error, 1)
	go func() {
		err := p.Do(ctx, len(ops), func(i int) Op { return ops[i] }, func(i int, r Result) {
			seen[i]++
			results[i] = r
		})
		for i, n := range seen {
			if n != 1 {
				err = errors.Join(err, fmt.Errorf("operation %d done %d times", i, n))
			}
		}
		out <- err
	}()
	return out, results
}

// await returns what doAsync's Do returned; safety only turns a hang into
// a failure, it is no performance bound.
func await(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(safety):
		t.Fatal("Do outlived its context")
		return nil
	}
}

func putOps(n int) []Op {
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = Op{Kind: OpPut, Key: fmt.Sprintf("k%d", i), Value: []byte(`"v"`)}
	}
	return ops
}

// A node nobody listens on fails every operation of Do once the sends time
// out, and Do itself succeeds: it ran everything. (Operations that failed
// while being sent were not counted as completed, so Do used to wait for
// its context.)
func TestDoReportsAnUnreachableNode(t *testing.T) {
	for _, kind := range []OpKind{OpPut, OpGet, OpDelete} {
		t.Run(kind.String(), func(t *testing.T) {
			p := unitProducer(t, Config{SendTimeout: 10 * time.Millisecond, PipelineBatch: 4, Window: 2},
				member("dead", freeEndpoint(t)))
			ops := putOps(50)
			for i := range ops {
				ops[i].Kind = kind
			}
			ctx, cancel := context.WithTimeout(context.Background(), safety)
			defer cancel()
			done, results := doAsync(t, p, ctx, ops)
			require.NoError(t, await(t, done))
			for i, r := range results {
				require.ErrorIs(t, r.Err, ErrTimeout, "operation %d", i)
			}
		})
	}
}

// Do returns by its context's deadline, or soon after it is cancelled,
// however long RequestTimeout and SendTimeout are, and hands the context's
// error to every operation it did not finish.
func TestDoReturnsByItsContext(t *testing.T) {
	const forever = time.Hour
	tests := []struct {
		name   string
		cfg    Config
		node   func(t *testing.T) (string, <-chan struct{})
		cancel bool // cancel once the node has a request, instead of a deadline
		want   error
	}{
		{"silent node", Config{RequestTimeout: forever}, silentNode, false, context.DeadlineExceeded},
		{"silent node cancelled", Config{RequestTimeout: forever}, silentNode, true, context.Canceled},
		{"unreachable node", Config{SendTimeout: forever},
			func(t *testing.T) (string, <-chan struct{}) { return freeEndpoint(t), nil }, false, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, received := tt.node(t)
			p := unitProducer(t, tt.cfg, member("n", ep))
			var ctx context.Context
			var cancel context.CancelFunc
			if tt.cancel {
				ctx, cancel = context.WithCancel(context.Background())
			} else {
				ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
			}
			defer cancel()
			done, results := doAsync(t, p, ctx, putOps(500))
			if tt.cancel {
				select {
				case <-received:
				case <-time.After(safety):
					t.Fatal("no request reached the node")
				}
				cancel()
			}
			require.ErrorIs(t, await(t, done), tt.want)
			for i, r := range results {
				require.ErrorIs(t, r.Err, tt.want, "operation %d", i)
			}
		})
	}
}

// A node killed with requests in flight and started again on the same
// port once a request could not even be sent to it: Do completes (the
// operations that failed while being sent count as done), the requests it
// lost are reported as timeouts, and the restarted node is used again.
func TestDoAcrossANodeRestart(t *testing.T) {
	start := func(port int) *node.Node {
		t.Helper()
		n, err := node.New(node.Config{Name: "n", RequestPort: port})
		require.NoError(t, err)
		require.NoError(t, n.Start())
		return n
	}
	// A port below the ephemeral range: once the node is closed, an
	// outgoing connection of this or another test could take a port of
	// that range before the restart binds it again.
	port := testcluster.FreePortRange(t, 1)
	n := start(port)
	t.Cleanup(func() { require.NoError(t, n.Close()) })
	ep := n.RequestEndpoint()
	p := unitProducer(t, Config{RequestTimeout: 200 * time.Millisecond, SendTimeout: 20 * time.Millisecond, PipelineBatch: 4},
		member("n", ep))

	ctx, cancel := context.WithTimeout(context.Background(), safety)
	defer cancel()
	ops := putOps(4000)
	killed, restarted := false, false
	acked, notSent := 0, 0
	err := p.Do(ctx, len(ops), func(i int) Op {
		if i == len(ops)/4 && !killed {
			require.NoError(t, n.Close())
			killed = true
		}
		return ops[i]
	}, func(i int, r Result) {
		switch {
		case r.Err == nil:
			acked++
		case errors.Is(r.Err, errNotSent):
			notSent++
			if !restarted {
				n = start(port)
				restarted = true
			}
		default:
			require.ErrorIs(t, r.Err, ErrTimeout, "operation %d", i)
		}
	})
	require.NoError(t, err)
	require.True(t, restarted, "no request failed to be sent")
	require.Positive(t, acked)
	require.Positive(t, notSent)
	require.NoError(t, p.Put(ctx, "after", []byte(`"v"`)))
}
