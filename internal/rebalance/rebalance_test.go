package rebalance_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// liveWriter is a second producer that writes and reads continuously while
// a rebalance runs: new keys and overwrites of loaded ones, each read back
// at once, plus reads of keys it wrote before.
type liveWriter struct {
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	acked  map[string][]byte
	errs   []string
	writes int
	reads  int
}

func (c *cluster) startLive(t *testing.T, step string, n int) *liveWriter {
	t.Helper()
	p := c.newProducer(t)
	w := &liveWriter{stop: make(chan struct{}), done: make(chan struct{}), acked: map[string][]byte{}}
	ctx := context.Background()
	go func() {
		defer close(w.done)
		var written []string
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			k := fmt.Sprintf("live-%s-%06d", step, i)
			if i%2 == 1 {
				k = fmt.Sprintf("key-%07d", rand.IntN(n))
			}
			v := fmt.Appendf(nil, `{"live":%q,"i":%d}`, step, i)
			fail := func(f string, a ...any) {
				w.mu.Lock()
				if len(w.errs) < 10 {
					w.errs = append(w.errs, fmt.Sprintf(f, a...))
				}
				w.mu.Unlock()
			}
			if err := p.Put(ctx, k, v); err != nil {
				fail("put %s: %v", k, err)
				continue
			}
			w.mu.Lock()
			w.acked[k] = v
			w.writes++
			w.mu.Unlock()
			written = append(written, k)
			got, err := p.Get(ctx, k)
			if err != nil || !bytes.Equal(got, v) {
				fail("read-your-write %s: %q %v", k, got, err)
			}
			old := written[rand.IntN(len(written))]
			w.mu.Lock()
			want := w.acked[old]
			w.reads += 2
			w.mu.Unlock()
			if got, err := p.Get(ctx, old); err != nil || !bytes.Equal(got, want) {
				fail("read %s: %q %v, want %q", old, got, err, want)
			}
		}
	}()
	return w
}

// finish stops the writer, asserts it saw no error and merges what it
// wrote into the expected keys.
func (w *liveWriter) finish(t *testing.T, c *cluster) {
	t.Helper()
	close(w.stop)
	<-w.done
	require.Empty(t, w.errs, "the concurrent producer saw errors")
	require.Positive(t, w.writes)
	t.Logf("concurrent producer: %d acknowledged writes, %d reads", w.writes, w.reads)
	for k, v := range w.acked {
		c.keys[k] = v
	}
}

// step runs one add or remove with a concurrent producer and checks the
// result: every key (loaded or written meanwhile) reads back, every node
// holds exactly its keys, and the keys moved are within 5% of the optimum.
func (c *cluster) step(t *testing.T, name string, n int, from, to []string, do func() (rebalance.Report, error)) {
	t.Helper()
	w := c.startLive(t, name, n)
	rep, err := do()
	w.finish(t, c)
	require.NoError(t, err)
	// The optimum over the keys present at the end (loaded and written
	// meanwhile): each key's copies to the nodes its preference list gained.
	optimum := c.optimum(t, from, to)
	t.Logf("%s: moved %d (copied %d, repaired %d), optimum %d (report's %d), deleted %d, copy %v verify %v total %v",
		name, rep.Moved(), rep.Keys, rep.Fixed, optimum, rep.Optimum, rep.Deleted, rep.Copy, rep.Verify, rep.Total)
	require.Equal(t, from, rep.From)
	require.Equal(t, to, rep.To)
	require.Positive(t, rep.Keys)
	require.LessOrEqual(t, float64(rep.Moved()), 1.05*float64(optimum), "keys moved vs optimum")
	c.check(t, to)
}

func TestAddThenRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: real Consul and node processes")
	}
	for _, alg := range []string{sharding.Consistent, sharding.Rendezvous} {
		for _, r := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s/R=%d", alg, r), func(t *testing.T) {
				n := numKeys(t)
				c := startCluster(t, alg, r, n)
				ctx := context.Background()
				four := []string{"node-0", "node-1", "node-2", "node-3"}
				five := append(four[:4:4], "node-4")
				c.step(t, "add", n, four, five, func() (rebalance.Report, error) {
					return rebalance.Add(ctx, c.rebalanceConfig(), "node-4", "")
				})
				after := []string{"node-1", "node-2", "node-3", "node-4"}
				c.step(t, "remove", n, five, after, func() (rebalance.Report, error) {
					return rebalance.Remove(ctx, c.rebalanceConfig(), "node-0")
				})
				// The remove signal stopped node-0.
				cc, err := consul.New(consul.Config{Addr: c.agent.Addr})
				require.NoError(t, err)
				sigs, err := cc.Signals(ctx)
				require.NoError(t, err)
				for _, s := range sigs {
					if s.Name == "node-0" {
						require.Equal(t, consul.NodeRemoved, s.State)
					}
				}
				st, _, err := cc.Settings(ctx)
				require.NoError(t, err)
				require.Equal(t, uint64(2), st.Epoch)
			})
		}
	}
}

var progressKeys = regexp.MustCompile(`copying .*keys (\d+)/`)

// TestKillMidCopyResumes kills `client_producer add-node` with SIGKILL while
// it copies, checks that a second rebalancer is refused while the dead one's
// lock lasts, then re-runs the command with --wait: it resumes, and no key
// is lost or left at a source.
func TestKillMidCopyResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: real Consul and node processes")
	}
	n := numKeys(t)
	c := startCluster(t, sharding.Consistent, 0, n)
	common := []string{"--consul", c.agent.Addr, "add-node", "node-4", "--grace", "300ms"}

	dry := testcluster.StartProcess(t, clientBin, append(common, "--dry-run")...)
	require.NoError(t, dry.Wait(t, time.Minute))
	require.Contains(t, dry.Output(), "would move about")

	// Slow the copy down so the kill lands in the middle of it.
	first := testcluster.StartProcess(t, clientBin, append(common, "--max-rate", strconv.Itoa(max(1000, n/20)))...)
	eventually(t, 2*time.Minute, "the copy has started", func() bool {
		m := progressKeys.FindAllStringSubmatch(first.Output(), -1)
		if len(m) == 0 {
			return false
		}
		k, _ := strconv.Atoi(m[len(m)-1][1])
		return k > 0
	})
	first.Signal(syscall.SIGKILL)
	_ = first.Wait(t, 10*time.Second)
	t.Logf("killed after:\n%s", first.Output())

	cc, err := consul.New(consul.Config{Addr: c.agent.Addr})
	require.NoError(t, err)
	st, _, err := cc.Settings(context.Background())
	require.NoError(t, err)
	require.NotNil(t, st.Migration)
	require.Equal(t, layout.PhaseCopying, st.Migration.Phase)

	// status shows the unfinished rebalance and how to resume it.
	status := testcluster.StartProcess(t, clientBin, "--consul", c.agent.Addr, "status")
	_ = status.Wait(t, time.Minute)
	require.Contains(t, status.Output(), "UNFINISHED REBALANCE: add node-4 in phase copying")
	require.Contains(t, status.Output(), "resume it with: client_producer add-node node-4")

	// The dead rebalancer's session still holds the lock (until its TTL):
	// a second one is refused with the holder named...
	second := testcluster.StartProcess(t, clientBin, common...)
	err = second.Wait(t, time.Minute)
	if err != nil {
		require.Contains(t, second.Output(), "held by")
	} else {
		t.Log("the dead rebalancer's session had already expired; the second run finished the job")
	}
	// ... and one that waits resumes and finishes.
	if err != nil {
		third := testcluster.StartProcess(t, clientBin, append(common, "--wait")...)
		require.NoError(t, third.Wait(t, 3*time.Minute))
		require.Contains(t, third.Output(), "resumed an unfinished migration")
		t.Logf("re-run:\n%s", third.Output())
	}
	c.check(t, []string{"node-0", "node-1", "node-2", "node-3", "node-4"})
}
