package supervisor_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/testcluster"
)

func durableKey(i int) string { return fmt.Sprintf("durable-%06d", i) }
func durableVal(i int) []byte { return fmt.Appendf(nil, `"value %d"`, i) }

// writeAll puts keys [0, n) until every one is acknowledged (a PUT to a
// node that is down fails and is tried again in a later round), calling
// progress with the count acknowledged so far after each chunk.
func writeAll(t *testing.T, p *producer.Producer, n int, progress func(acked int)) {
	t.Helper()
	pending := make([]int, n)
	for i := range pending {
		pending[i] = i
	}
	acked := 0
	for round := 0; len(pending) > 0; round++ {
		require.Less(t, round, 200, "%d keys never acknowledged", len(pending))
		var failed []int
		for start := 0; start < len(pending); start += 2000 {
			chunk := pending[start:min(start+2000, len(pending))]
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			err := p.Do(ctx, len(chunk), func(i int) producer.Op {
				return producer.Op{Kind: producer.OpPut, Key: durableKey(chunk[i]), Value: durableVal(chunk[i])}
			}, func(i int, r producer.Result) {
				if r.Err != nil {
					failed = append(failed, chunk[i])
				} else {
					acked++
				}
			})
			cancel()
			require.NoError(t, err)
			progress(acked)
		}
		pending = failed
		if len(pending) > 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// readAll checks that every key [0, n) reads back with its value.
func readAll(t *testing.T, p *producer.Producer, n int) {
	t.Helper()
	missing := 0
	var first error
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, p.Do(ctx, n, func(i int) producer.Op {
		return producer.Op{Kind: producer.OpGet, Key: durableKey(i)}
	}, func(i int, r producer.Result) {
		if r.Err == nil && string(r.Value) != string(durableVal(i)) {
			r.Err = fmt.Errorf("key %s: got %s", durableKey(i), r.Value)
		}
		if r.Err != nil {
			if first == nil {
				first = r.Err
			}
			missing++
		}
	}))
	require.Zero(t, missing, "%d of %d acknowledged keys do not read back; first: %v", missing, n, first)
}

// TestDurableNodesSurviveKill9 runs 4 durable nodes with R=0 under a real
// supervisor; a producer writes 200k acknowledged keys while node-1 is
// killed with SIGKILL three times at random moments and restarted by the
// supervisor on its data directory. Every acknowledged key reads back.
//
// The kills are spaced so the node is back before its TTL check expires:
// with R=0 the producer places keys over the passing members, so a node
// seen critical would hand its keys to others for the outage (a layout
// change, which is the rebalancer's business, not durability's).
func TestDurableNodesSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	const n = 200_000
	agent := testcluster.StartConsul(t)
	dataDir := t.TempDir()
	sup := start(t, agent, supervisorArgs(t, 4, "--data-dir", dataDir, "--sync", "always")...)
	eventually(t, "four nodes pass", func() bool { return len(passingNames(t, agent.Client)) == 4 })

	p, err := producer.New(context.Background(), producer.Config{
		Consul:   consul.Config{Addr: agent.Addr},
		Settings: consul.Settings{Replicas: 0},
	})
	require.NoError(t, err)
	defer p.Close()

	var acked atomic.Int64
	kills := make(chan int, 3)
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
		for k := 1; k <= 3; k++ {
			// A random moment in the k-th quarter of the load.
			at := int64(k*n/4 - rng.IntN(n/5))
			for acked.Load() < at {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
			old := nodePIDs(t, sup.Pid())["node-1"]
			if old == 0 {
				return
			}
			_ = syscall.Kill(old, syscall.SIGKILL)
			kills <- old
			deadline := time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				if pid := nodePIDs(t, sup.Pid())["node-1"]; pid != 0 && pid != old {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(time.Second) // let it serve before the next kill
		}
	}()
	writeAll(t, p, n, func(a int) { acked.Store(int64(a)) })
	acked.Store(n)
	<-killerDone
	close(kills)
	killed := 0
	for range kills {
		killed++
	}
	require.Positive(t, killed)
	t.Logf("node-1 killed %d times during the load", killed)

	eventually(t, "four nodes pass", func() bool { return len(passingNames(t, agent.Client)) == 4 })
	readAll(t, p, n)
	require.Contains(t, sup.Output(), "data directory was not closed cleanly", "recovery after kill -9 is logged")

	// Each node has its own directory.
	for i := range 4 {
		require.DirExists(t, filepath.Join(dataDir, fmt.Sprintf("node-%d", i)))
	}
	require.False(t, strings.Contains(sup.Output(), "fatal storage error"))
}
