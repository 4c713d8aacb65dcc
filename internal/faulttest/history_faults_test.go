package faulttest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/internal/reqclient"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
)

// historyCluster is the cluster of a history test: a Consul agent, a
// `server_consumer 4` supervisor whose nodes are real processes (in memory,
// or durable on their own data directories), R=2, and the in-process
// producers (the first, the observer, writes nothing; it records the
// cluster settings).
type historyCluster struct {
	*cluster
	// members are the cluster's intended members now; removed the nodes
	// removed from it (their supervisor stopped them).
	members, removed []string
	// producers are every in-process producer, the observer first.
	producers []*producer.Producer
	// origin is the start of the history: every recorded time is an offset
	// from it.
	origin time.Time
	faults []faultEvent
	// keys are the keys of the history; healBy and healWait say how heal
	// brings their replicas together.
	keys     []string
	healBy   healMode
	healWait time.Duration
	// paused asks the producers' goroutines to wait (see rebalance).
	paused atomic.Bool
	// stopped is the node SIGSTOPped now, resumed on cleanup if a check
	// fails while it is stopped.
	stopped string
}

// initialMembers are the nodes `server_consumer 4` starts.
var initialMembers = []string{"node-0", "node-1", "node-2", "node-3"}

// startHistoryCluster starts the cluster: durable nodes keep their data in
// a temporary directory, acknowledge writes once they are on disk, and
// catch up from their replicas after a restart.
func startHistoryCluster(t *testing.T, durable bool) *historyCluster {
	t.Helper()
	var extra []string
	if durable {
		extra = []string{"--data-dir", t.TempDir(), "--sync", "always", "--catch-up-settle", "1s"}
	}
	c := &historyCluster{cluster: startCluster(t, len(initialMembers), extra...), members: slices.Clone(initialMembers)}
	t.Cleanup(func() {
		if c.stopped != "" {
			if pid := testcluster.NodePIDs(t, c.sup.Pid())[c.stopped]; pid != 0 {
				_ = syscall.Kill(pid, syscall.SIGCONT)
			}
		}
	})
	c.newProducer() // the observer: first, it stores the settings
	c.origin = time.Now()
	return c
}

// producerConfig is the configuration of every producer of the test: R=2,
// the four initial nodes recorded as the members, quorum writes and reads.
func (c *historyCluster) producerConfig() producer.Config {
	return producer.Config{
		Consul:           consul.Config{Addr: c.agent.Addr},
		Settings:         layout.Settings{Replicas: 2, Members: initialMembers, Epoch: 1},
		WriteConsistency: producer.Quorum,
		ReadConsistency:  producer.Quorum,
	}
}

// newProducer returns an in-process producer of the cluster, closed on
// cleanup.
func (c *historyCluster) newProducer() *producer.Producer {
	c.t.Helper()
	p, err := producer.New(context.Background(), c.producerConfig())
	require.NoError(c.t, err)
	c.t.Cleanup(func() { _ = p.Close() })
	c.producers = append(c.producers, p)
	return p
}

// since is the offset of now in the history.
func (c *historyCluster) since() time.Duration { return time.Since(c.origin) }

// faultKind is one kind of fault.
type faultKind uint8

const (
	faultKill   faultKind = iota + 1 // kill -9 of a node; the supervisor restarts it
	faultStop                        // SIGSTOP until Consul sees the node down, then SIGCONT
	faultConsul                      // restart of the Consul agent
	faultAdd                         // rebalance.Add of node-4
	faultRemove                      // rebalance.Remove of node-0
)

func (k faultKind) String() string {
	return [...]string{faultKill: "kill -9", faultStop: "SIGSTOP", faultConsul: "consul restart",
		faultAdd: "add node", faultRemove: "remove node"}[k]
}

// faultEvent is one fault injected: from Start until the cluster was whole
// again (End).
type faultEvent struct {
	Kind       faultKind
	Node       string
	Start, End time.Duration
	Note       string
}

func (e faultEvent) String() string {
	s := fmt.Sprintf("%9s..%-9s %s", fmtOffset(e.Start), fmtOffset(e.End), e.Kind)
	if e.Node != "" {
		s += " " + e.Node
	}
	if e.Note != "" {
		s += " (" + e.Note + ")"
	}
	return s
}

// faultPlan returns n faults in a random order: node-4 added and node-0
// removed once each, and n-2 node and Consul faults, each of the three
// kinds at least once when n allows.
func faultPlan(rng *rand.Rand, n int) []faultKind {
	plan := []faultKind{faultAdd, faultRemove, faultKill, faultStop, faultConsul}
	for len(plan) < n {
		plan = append(plan, []faultKind{faultKill, faultStop, faultConsul}[rng.IntN(3)])
	}
	plan = plan[:max(n, 2)]
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	return plan
}

// inject runs the faults of plan one at a time, on the test's goroutine,
// with a random pause of gap/4 to gap before each: each one ends when the
// cluster is whole again (every member passing and serving reads).
func (c *historyCluster) inject(rng *rand.Rand, plan []faultKind, gap time.Duration) {
	c.t.Helper()
	for i, k := range plan {
		time.Sleep(gap/4 + time.Duration(rng.Int64N(int64(gap*3/4)+1)))
		ev := faultEvent{Kind: k, Start: c.since()}
		switch k {
		case faultKill:
			ev.Node = c.members[rng.IntN(len(c.members))]
			c.kill(ev.Node)
		case faultStop:
			ev.Node = c.members[rng.IntN(len(c.members))]
			c.stop(ev.Node)
		case faultConsul:
			ev.Note = c.restartConsul()
		case faultAdd:
			ev.Node = "node-4"
			ev.Note = c.rebalance(faultAdd, ev.Node)
		case faultRemove:
			ev.Node = "node-0"
			ev.Note = c.rebalance(faultRemove, ev.Node)
		}
		ev.End = c.since()
		c.faults = append(c.faults, ev)
		c.t.Logf("fault %d/%d: %s", i+1, len(plan), ev)
	}
}

// kill kills node with SIGKILL and waits until the supervisor restarted it
// and it serves again.
func (c *historyCluster) kill(node string) {
	c.t.Helper()
	old := testcluster.NodePIDs(c.t, c.sup.Pid())[node]
	require.NotZero(c.t, old, "no process for %s", node)
	require.NoError(c.t, syscall.Kill(old, syscall.SIGKILL))
	testcluster.Eventually(c.t, node+" restarted by the supervisor", time.Minute, 50*time.Millisecond, func() bool {
		pid := testcluster.NodePIDs(c.t, c.sup.Pid())[node]
		return pid != 0 && pid != old
	})
	c.waitWhole()
}

// stop freezes node until Consul sees it down, then resumes it. A node that
// is resumed catches up on nothing: it simply missed the writes made
// meanwhile (and applies, when it resumes, the requests queued for it).
func (c *historyCluster) stop(node string) {
	c.t.Helper()
	c.stopped = node
	c.signal(node, syscall.SIGSTOP)
	c.signal(node, syscall.SIGCONT)
	c.stopped = ""
	c.waitWhole()
}

// restartConsul restarts the Consul agent. The agent forgets every service
// registration, check and session: each node registers again on its next
// heartbeat (every TTL/3) and the supervisor claims its nodes again on a
// new session; until then producers see no member and refuse writes
// (recorded as failed) and reads.
//
// A dev agent also forgets the KV store, which a Consul server keeps on
// disk: the cluster settings (members, R, epoch) and the add and remove
// signals. Left so, the supervisor would start again every node it was
// started with (a removed node-0 too) and restore their add signals, and
// the next producer to start would record new settings. That is the loss
// of the cluster's metadata, not an agent restart, so restartConsul puts
// the KV entries back the moment the agent answers, as a Consul server
// would have kept them. It returns a note on what happened meanwhile.
func (c *historyCluster) restartConsul() string {
	c.t.Helper()
	kv := c.agent.Client.KV()
	var saved api.KVPairs
	for _, prefix := range []string{"zshard/cluster", "zshard/nodes/"} {
		pairs, _, err := kv.List(prefix, nil)
		require.NoError(c.t, err)
		saved = append(saved, pairs...)
	}
	begin := time.Now()
	c.agent.Restart(c.t)
	back := time.Now()
	for _, p := range saved {
		_, err := kv.Put(&api.KVPair{Key: p.Key, Value: p.Value}, nil)
		require.NoError(c.t, err, "restoring %s", p.Key)
	}
	var note []string
	for _, n := range c.removed {
		if testcluster.NodePIDs(c.t, c.sup.Pid())[n] != 0 {
			note = append(note, "the supervisor started removed "+n+" again before its remove signal was back")
		}
		testcluster.Eventually(c.t, "removed "+n+" not running", time.Minute, 100*time.Millisecond, func() bool {
			return testcluster.NodePIDs(c.t, c.sup.Pid())[n] == 0
		})
	}
	c.waitWhole()
	note = append([]string{fmt.Sprintf("agent back after %v, every member registered and serving %v later",
		back.Sub(begin).Round(time.Millisecond), time.Since(back).Round(time.Millisecond))}, note...)
	return strings.Join(note, "; ")
}

// rebalance adds or removes node with the rebalancer (Grace 1 s: the
// producers are in this process and see a phase change within
// milliseconds), and runs it again to resume when it fails. When
// verification still does not converge after three runs under the
// concurrent writes, the producers are paused while it is resumed (and the
// note says so). It returns a note with what moved.
func (c *historyCluster) rebalance(kind faultKind, node string) string {
	c.t.Helper()
	cfg := rebalance.Config{Producer: c.producerConfig(), Grace: time.Second, Wait: true}
	var (
		rep rebalance.Report
		err error
	)
	var errs []string
	paused := false
	for attempt := 1; attempt <= 5; attempt++ {
		if attempt == 4 && errors.Is(err, rebalance.ErrNotConverged) {
			// Verification repairs a key only when two reads 500 ms
			// apart agree, which a key written faster never does.
			c.t.Logf("%s %s: verification does not converge under the writes; pausing the producers to finish it", kind, node)
			c.paused.Store(true)
			paused = true
			time.Sleep(time.Second)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		if kind == faultAdd {
			rep, err = rebalance.Add(ctx, cfg, node, "")
		} else {
			rep, err = rebalance.Remove(ctx, cfg, node)
		}
		cancel()
		if err == nil || (attempt >= 3 && !errors.Is(err, rebalance.ErrNotConverged)) {
			break
		}
		errs = append(errs, err.Error())
		c.t.Logf("%s %s failed (attempt %d): %v", kind, node, attempt, err)
		// A durable node that joins catches up from its replicas first
		// and refuses the verification's reads meanwhile (not_ready):
		// wait until every node passes, is ready and serves reads.
		c.waitWhole(node)
	}
	c.paused.Store(false)
	require.NoError(c.t, err, "%s %s", kind, node)
	if kind == faultAdd {
		c.members = append(c.members, node)
	} else {
		c.members = slices.DeleteFunc(c.members, func(n string) bool { return n == node })
		c.removed = append(c.removed, node)
		testcluster.Eventually(c.t, "removed "+node+"'s process exits", time.Minute, 100*time.Millisecond, func() bool {
			return testcluster.NodePIDs(c.t, c.sup.Pid())[node] == 0
		})
	}
	c.waitWhole()
	note := fmt.Sprintf("%d keys copied, %d repaired, %d deleted at sources in %v", rep.Keys, rep.Fixed, rep.Deleted, rep.Total.Round(time.Millisecond))
	if len(errs) > 0 {
		note += fmt.Sprintf("; %d failed attempts first: %s", len(errs), strings.Join(errs, "; "))
	}
	if paused {
		note += "; finished with the producers paused"
	}
	if msg := c.staleLayouts(10 * time.Second); msg != "" {
		note += "; " + msg
		c.t.Errorf("after %s %s: %s", kind, node, msg)
	}
	return note
}

// staleLayouts waits up to within until every in-process producer routes
// by the layout stored in Consul, and describes those that still do not
// ("" when all do).
func (c *historyCluster) staleLayouts(within time.Duration) string {
	c.t.Helper()
	stored, _, err := c.cc.Settings(context.Background())
	require.NoError(c.t, err)
	var stale []string
	deadline := time.Now().Add(within)
	for {
		stale = stale[:0]
		for i, p := range c.producers {
			if s := p.Settings(); s.Epoch != stored.Epoch || !slices.Equal(s.Members, stored.Members) || (s.Migration == nil) != (stored.Migration == nil) {
				stale = append(stale, fmt.Sprintf("producer %d (0 is the observer) has epoch %d members %v", i, s.Epoch, s.Members))
			}
		}
		if len(stale) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(stale) == 0 {
		return ""
	}
	return fmt.Sprintf("%d of %d producers route by a stale layout %v later: Consul has epoch %d members %v; %s",
		len(stale), len(c.producers), within, stored.Epoch, stored.Members, strings.Join(stale, "; "))
}

// checkLayouts fails the test if some producer does not route by the
// stored layout within 30 s.
func (c *historyCluster) checkLayouts(when string) {
	c.t.Helper()
	if msg := c.staleLayouts(30 * time.Second); msg != "" {
		c.t.Errorf("%s: %s", when, msg)
	}
}

// waitWhole waits until every member (and each extra node) passes, is
// ready, and serves a read
// itself (so a restarted node is the new process, caught up: a durable node
// answers not_ready while it catches up, and Consul may still show the
// registration of the process that was killed).
func (c *historyCluster) waitWhole(extra ...string) {
	c.t.Helper()
	nodes := append(slices.Clone(c.members), extra...)
	slices.Sort(nodes)
	nodes = slices.Compact(nodes)
	testcluster.Eventually(c.t, fmt.Sprintf("nodes %v passing and serving reads", nodes), 2*time.Minute, 100*time.Millisecond, func() bool {
		ms, err := c.cc.Members(context.Background())
		if err != nil {
			return false
		}
		for _, n := range nodes {
			i := slices.IndexFunc(ms, func(m consul.Member) bool { return m.Name == n })
			if i < 0 || !ms[i].Ready || !c.serves(n) {
				return false
			}
		}
		return true
	})
}

// serves reports whether node answers a read itself.
func (c *historyCluster) serves(node string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.call(ctx, node, protocol.Request{Op: protocol.OpGetOne, Key: "probe"})
	var pe *protocol.Error
	return err == nil || (errors.As(err, &pe) && pe.Code == protocol.CodeNotFound)
}

// call sends req to node itself, at the request endpoint it registered in
// Consul, so that what the test observes does not depend on any producer's
// view of the cluster. An error reply is returned as an error wrapping its
// *protocol.Error.
func (c *historyCluster) call(ctx context.Context, node string, req protocol.Request) (protocol.Reply, error) {
	ms, err := c.cc.Members(ctx)
	if err != nil {
		return protocol.Reply{}, err
	}
	i := slices.IndexFunc(ms, func(m consul.Member) bool { return m.Name == node })
	if i < 0 {
		return protocol.Reply{}, fmt.Errorf("%s is not passing in Consul", node)
	}
	cl := reqclient.New(ms[i].RepURL, 10*time.Second)
	defer cl.Close()
	return cl.Call(ctx, &req)
}

// readReplicas reads every key from every member directly (GET_ONE in
// BATCHes to each node) and returns, for each key, the state on each of its
// replicas (its preference list in the layout stored in Consul, owner
// first), and the number of copies held by members that are not its
// replicas.
func (c *historyCluster) readReplicas(keys []string) (map[string][]replicaState, int) {
	c.t.Helper()
	s, _, err := c.cc.Settings(context.Background())
	require.NoError(c.t, err)
	require.Nil(c.t, s.Migration, "a rebalance is unfinished")
	require.ElementsMatch(c.t, c.members, s.Members, "the members recorded in Consul")
	table, err := s.Table(s.Members)
	require.NoError(c.t, err)
	held := map[string]map[string]replicaState{} // node -> key -> state
	for _, node := range c.members {
		held[node] = c.readNode(node, keys)
	}
	out := make(map[string][]replicaState, len(keys))
	strays := 0
	for _, k := range keys {
		reps := table.AppendPrefs(nil, k)
		require.Len(c.t, reps, 3, "replicas of %s", k)
		for _, n := range reps {
			out[k] = append(out[k], held[n][k])
		}
		for _, n := range c.members {
			if !slices.Contains(reps, n) && held[n][k].Present {
				strays++
			}
		}
	}
	return out, strays
}

// readNode reads keys on node, 500 per BATCH.
func (c *historyCluster) readNode(node string, keys []string) map[string]replicaState {
	c.t.Helper()
	out := make(map[string]replicaState, len(keys))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for start := 0; start < len(keys); start += 500 {
		chunk := keys[start:min(start+500, len(keys))]
		batch := make([]protocol.Request, len(chunk))
		for i, k := range chunk {
			batch[i] = protocol.Request{Op: protocol.OpGetOne, Key: k}
		}
		rep, err := c.call(ctx, node, protocol.Request{Op: protocol.OpBatch, Ops: batch})
		if err == nil && len(rep.Results) != len(chunk) {
			err = fmt.Errorf("BATCH of %d answered with %d results", len(chunk), len(rep.Results))
		}
		for i, k := range chunk {
			s := replicaState{Node: node}
			switch {
			case err != nil:
				s.Err = err.Error()
			case rep.Results[i].Status == protocol.StatusOK:
				s.Present, s.Value = true, string(rep.Results[i].Value)
			case rep.Results[i].Err != nil && rep.Results[i].Err.Code == protocol.CodeNotFound:
			case rep.Results[i].Err != nil:
				s.Err = fmt.Sprintf("%s: %s", rep.Results[i].Err.Code, rep.Results[i].Err.Message)
			default:
				s.Err = "reply status " + rep.Results[i].Status
			}
			out[k] = s
		}
	}
	return out
}
