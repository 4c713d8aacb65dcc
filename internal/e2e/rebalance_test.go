//go:build e2e

package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/layout"
)

const (
	preloadKeys = 2000 // bulk-loaded before the cluster changes
	// How long one add-node or remove-node may take, container start included.
	rebalanceTimeout = 8 * time.Minute
)

// TestDockerRebalance adds node-4 on the spare host container and removes
// node-0 with client_producer (run in the producer container, as a user
// would), while a producer on this host keeps writing acknowledged PUTs. It
// then reads every acknowledged key back: none may be lost. With R=2 it also
// kills a node container afterwards (its in-memory store is gone) and reads
// every key again from the remaining replicas.
func TestDockerRebalance(t *testing.T) {
	for _, r := range []int{0, 2} {
		t.Run("R="+strconv.Itoa(r), func(t *testing.T) { testRebalance(t, r) })
	}
}

func testRebalance(t *testing.T, replicas int) {
	c := newCluster(t)
	t0 := time.Now()
	c.compose(5*time.Minute, "up", "-d", "--no-build")
	t.Logf("compose up -d took %s", time.Since(t0).Round(100*time.Millisecond))

	cfg := api.DefaultConfig()
	cfg.Address = "127.0.0.1:" + strconv.Itoa(c.consulPort)
	cc, err := api.NewClient(cfg)
	require.NoError(t, err)
	waitPassing := func(want []string) {
		t.Helper()
		waitFor(t, "passing: "+strings.Join(want, " "), func() (bool, string) {
			in := instances(t, cc)
			return slices.Equal(passing(in), want) && len(in) == len(want), describe(in)
		})
	}
	waitPassing(nodes)

	// The first writing producer stores the cluster settings: consistent
	// hashing, as the class spec rebalances, with R extra copies.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := producer.New(ctx, producer.Config{
		Consul:   consul.Config{Addr: cfg.Address},
		Settings: layout.Settings{Algorithm: "consistent", Replicas: replicas},
	})
	require.NoError(t, err)
	defer p.Close()
	require.Equal(t, replicas, p.Settings().Replicas, "the cluster's stored settings")

	// acked records every acknowledged write and its value.
	var mu sync.Mutex
	acked := map[string]string{}

	b, err := p.NewBulk()
	require.NoError(t, err)
	for i := range preloadKeys {
		k, v := fmt.Sprintf("pre-%05d", i), fmt.Sprintf("preloaded %d", i)
		require.NoError(t, b.Put(ctx, k, encode(t, p, v)))
	}
	require.NoError(t, b.Sync(ctx), "SYNC barrier after the bulk load")
	require.NoError(t, b.Close())
	mu.Lock() // acknowledged now that the barrier returned
	for i := range preloadKeys {
		acked[fmt.Sprintf("pre-%05d", i)] = fmt.Sprintf("preloaded %d", i)
	}
	mu.Unlock()

	// The writer: one acknowledged PUT after another, each key written once,
	// until stopped. A write that fails is not acknowledged and not counted.
	phase := "before" // which cluster change is running, for the tally
	tally := map[string][2]int{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k, v := fmt.Sprintf("live-%06d", i), fmt.Sprintf("written live %d", i)
			wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
			raw, err := producer.EncodeValue(p.Codec(), v)
			if err == nil {
				err = p.Put(wctx, k, raw)
			}
			wcancel()
			mu.Lock()
			n := tally[phase]
			if err == nil {
				acked[k] = v
				n[0]++
			} else {
				n[1]++
			}
			tally[phase] = n
			mu.Unlock()
		}
	}()
	setPhase := func(s string) { mu.Lock(); phase = s; mu.Unlock() }
	acknowledgedIn := func(phase string) int { mu.Lock(); defer mu.Unlock(); return tally[phase][0] }
	// waitWrites waits until the writer has an acknowledged write in the
	// current phase.
	waitWrites := func(phase string) {
		t.Helper()
		waitFor(t, "an acknowledged write "+phase, func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return tally[phase][0] > 0, fmt.Sprintf("writes by phase (acknowledged, failed): %v", tally)
		})
	}
	waitWrites("before")

	// Add node-4: start the spare host, then add-node from the producer
	// container; node-4's supervisor launches it on the add signal.
	setPhase("add node-4")
	c.compose(5*time.Minute, "--profile", "spare", "up", "-d", "--no-build", "node-4")
	t0 = time.Now()
	out := c.compose(rebalanceTimeout, "run", "--rm", "--no-deps", "producer", "add-node", "node-4", "--host", "node-4", "--quiet")
	t.Logf("add-node node-4 took %s:\n%s", time.Since(t0).Round(100*time.Millisecond), out)
	waitPassing(append(slices.Clone(nodes), "node-4"))
	in := instances(t, cc)
	assert.Equal(t, "node-4", in["node-4"].host, "node-4 runs on the spare host")
	assert.Contains(t, in["node-4"].rep, c.containerIP(c.container("node-4")), "node-4 registered its container's address")
	// The writer kept going while node-4 was added, not only before and after.
	assert.Positive(t, acknowledgedIn("add node-4"), "acknowledged writes while add-node ran")

	// Remove node-0: its keys move away, then the remove signal stops it.
	setPhase("remove node-0")
	t0 = time.Now()
	out = c.compose(rebalanceTimeout, "run", "--rm", "--no-deps", "producer", "remove-node", "node-0", "--quiet")
	t.Logf("remove-node node-0 took %s:\n%s", time.Since(t0).Round(100*time.Millisecond), out)
	after := []string{"node-1", "node-2", "node-3", "node-4"}
	waitPassing(after)
	assert.Positive(t, acknowledgedIn("remove node-0"), "acknowledged writes while remove-node ran")
	setPhase("after")
	waitWrites("after")
	close(stop)
	<-done

	status := c.compose(2*time.Minute, "run", "--rm", "--no-deps", "producer", "status")
	t.Logf("status after the add and the remove:\n%s", status)
	assert.NotContains(t, status, "node-0")
	assert.Contains(t, status, "node-4")
	st := p.Settings()
	assert.Equal(t, after, st.Members, "layout members after the add and the remove")
	assert.Nil(t, st.Migration, "no migration left unfinished")

	mu.Lock()
	t.Logf("acknowledged writes: %d bulk-loaded, %d live; live writes by phase (acked, failed): %v",
		preloadKeys, len(acked)-preloadKeys, tally)
	want := acked
	mu.Unlock()
	readBack(t, p, want, "after the add and the remove")

	if replicas < 2 {
		return
	}
	// R=2: every key is on 3 of the 4 nodes. Kill one node container (no
	// graceful shutdown, its memory is gone) and read everything again.
	victim := c.container("node-2")
	c.docker("kill", victim)
	t.Log("killed node-2's container")
	readBack(t, p, want, "with node-2 killed")
}

// readBack reads every key of want through the producer (falling back along
// each key's preference list) and fails on any missing or different value.
func readBack(t *testing.T, p *producer.Producer, want map[string]string, when string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var lost, wrong []string
	t0 := time.Now()
	for k, v := range want {
		raw, err := p.Get(ctx, k)
		if errors.Is(err, producer.ErrNotFound) {
			lost = append(lost, k)
			continue
		}
		require.NoError(t, err, "reading %s %s", k, when)
		var got string
		require.NoError(t, producer.DecodeValue(p.Codec(), raw, &got))
		if got != v {
			wrong = append(wrong, fmt.Sprintf("%s=%q want %q", k, got, v))
		}
	}
	slices.Sort(lost)
	assert.Empty(t, lost, "acknowledged keys lost %s (%d of %d)", when, len(lost), len(want))
	assert.Empty(t, wrong, "acknowledged keys with another value %s", when)
	t.Logf("read back all %d acknowledged keys %s in %s", len(want), when, time.Since(t0).Round(time.Millisecond))
}

func encode(t *testing.T, p *producer.Producer, v string) []byte {
	t.Helper()
	raw, err := producer.EncodeValue(p.Codec(), v)
	require.NoError(t, err)
	return raw
}
