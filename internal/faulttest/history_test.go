package faulttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/producer"
)

// The history test: seeded fault injection on a real cluster while
// producers write, with every operation recorded, then a heal step and
// checks of the final state against the history.
//
// Cluster: a real Consul agent and a `server_consumer 4` supervisor whose
// nodes are real processes, in memory or durable (--data-dir), R=2 (three
// replicas per key), quorum writes.
//
// History: three in-process producers put and delete a few thousand
// overlapping keys, a random mix of single operations and Do pipelines, and
// record each operation's invocation and completion times and its outcome
// (acknowledged, failed: refused before anything was sent, or unknown).
// Meanwhile, one at a time, decided by a seeded math/rand/v2 source: kill -9
// of a node (the supervisor restarts it), SIGSTOP of a node until Consul
// sees it down then SIGCONT, a restart of the Consul agent, node-4 added
// and node-0 removed by the rebalancer; each fault ends when every member
// passes and serves reads again.
//
// Heal: see heal. Checks, on every key read from each of its replicas
// directly:
//
//  1. every replica identical: the same presence and value;
//  2. no acknowledged write lost unless superseded, and
//  3. no deleted key back (judgeFinal).
//
// The "register" subtest checks linearizability instead (see
// history_register_test.go).
//
// At R=0 a node restarted in memory comes back empty: the only copy of each
// of its keys is gone, so acknowledged writes are lost by design (durable
// nodes keep them). The test runs at R=2 only, where a key keeps two copies
// while one node is down; R=0 is not tested here.
//
// The test takes several minutes and is run on request: ZSHARD_HISTORY=1
// (and `go test -timeout 30m`); -short skips it. Knobs, from the
// environment:
//
//	ZSHARD_HISTORY_SEED       the seed (default random; logged, so a failure can be rerun)
//	ZSHARD_HISTORY_KEYS       keys the producers write (default 2000)
//	ZSHARD_HISTORY_SECONDS    least length of the history in seconds (default 45;
//	                          it also lasts until every fault is over)
//	ZSHARD_HISTORY_FAULTS     faults per history, at least the five kinds (default 7)
//	ZSHARD_HISTORY_HEAL_WAIT  how long heal waits for background repair (default 3m)
//
// The seed fixes every random decision (faults, their order, targets and
// pauses, the producers' operations); the interleaving with the real
// processes still varies from run to run.

// historyKnobs are the test's settings, from the environment.
type historyKnobs struct {
	seed     uint64
	keys     int
	seconds  time.Duration
	faults   int
	healWait time.Duration
}

func loadKnobs(t *testing.T) historyKnobs {
	t.Helper()
	k := historyKnobs{seed: rand.Uint64(), keys: 2000, seconds: 45 * time.Second, faults: 7, healWait: 3 * time.Minute}
	if s := os.Getenv("ZSHARD_HISTORY_SEED"); s != "" {
		var err error
		k.seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err, "ZSHARD_HISTORY_SEED")
	}
	envInt := func(name string, v *int, least int) {
		if s := os.Getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			require.NoError(t, err, name)
			require.GreaterOrEqual(t, n, least, name)
			*v = n
		}
	}
	envInt("ZSHARD_HISTORY_KEYS", &k.keys, 1)
	secs := int(k.seconds / time.Second)
	envInt("ZSHARD_HISTORY_SECONDS", &secs, 1)
	k.seconds = time.Duration(secs) * time.Second
	envInt("ZSHARD_HISTORY_FAULTS", &k.faults, 5)
	if s := os.Getenv("ZSHARD_HISTORY_HEAL_WAIT"); s != "" {
		var err error
		k.healWait, err = time.ParseDuration(s)
		require.NoError(t, err, "ZSHARD_HISTORY_HEAL_WAIT")
	}
	return k
}

// rngFor returns the random source of the test or subtest t: the seed mixed
// with t's name, so that one subtest run alone (-run) with the same seed
// makes the same decisions.
func rngFor(t *testing.T, seed uint64) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(t.Name()))
	return rand.New(rand.NewPCG(seed, h.Sum64()))
}

func TestHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Consul and node processes, for minutes")
	}
	if os.Getenv("ZSHARD_HISTORY") == "" {
		t.Skip("set ZSHARD_HISTORY=1 to run the history test (several minutes per variant; go test -timeout 30m)")
	}
	k := loadKnobs(t)
	t.Logf("seed %d (rerun with ZSHARD_HISTORY_SEED=%d); %d keys, at least %v per history, %d faults, heal wait %v",
		k.seed, k.seed, k.keys, k.seconds, k.faults, k.healWait)
	for _, store := range []struct {
		name    string
		durable bool
	}{{"memory", false}, {"durable", true}} {
		t.Run(store.name, func(t *testing.T) {
			t.Run("heal-by-repair", func(t *testing.T) {
				if !repairCommandExists(t) {
					t.Skip("client_producer has no repair subcommand yet (`client_producer repair --help` fails)")
				}
				runHistory(t, k, store.durable, healByRepair)
			})
			t.Run("heal-by-background", func(t *testing.T) {
				runHistory(t, k, store.durable, healByWaiting)
			})
			t.Run("register", func(t *testing.T) {
				runRegister(t, k, store.durable)
			})
		})
	}
}

// runHistory runs one history on a new cluster, heals it as how says and
// checks the result.
func runHistory(t *testing.T, k historyKnobs, durable bool, how healMode) {
	rng := rngFor(t, k.seed)
	t.Logf("seed %d, subtest source %s", k.seed, t.Name())
	c := startHistoryCluster(t, durable)
	c.healBy, c.healWait = how, k.healWait
	for i := range k.keys {
		c.keys = append(c.keys, fmt.Sprintf("h-%05d", i))
	}
	ps := []*producer.Producer{c.newProducer(), c.newProducer(), c.newProducer()}

	// Two writers per producer: one of single operations, one of Do
	// pipelines.
	ctx, stopWriters := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var writers []*writer
	for i, p := range ps {
		for _, pipelined := range []bool{false, true} {
			w := &writer{c: c, p: p, client: i, worker: len(writers), keys: c.keys,
				rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))}
			writers = append(writers, w)
			wg.Go(func() {
				if pipelined {
					w.pipelined(ctx)
				} else {
					w.single(ctx)
				}
			})
		}
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stopWriters()
			wg.Wait()
		})
	}
	t.Cleanup(stop)

	time.Sleep(2 * time.Second)
	plan := faultPlan(rng, k.faults)
	t.Logf("faults planned: %v", plan)
	c.inject(rng, plan, 4*time.Second)
	for c.since() < k.seconds {
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	historyLen := c.since()
	var ops []histOp
	for _, w := range writers {
		ops = append(ops, w.ops...)
	}
	f := countOps(ops)
	t.Logf("history: %d operations (%d puts, %d deletes; %d single, %d in Do pipelines) on %d keys by 3 producers in %v: %d acknowledged, %d unknown, %d failed; %d faults: %s",
		f.ops, f.puts, f.deletes, f.ops-f.pipelined, f.pipelined, len(c.keys), historyLen.Round(time.Millisecond),
		f.acked, f.unknown, f.failed, len(c.faults), faultCounts(c.faults))
	for _, ev := range c.faults {
		t.Logf("  fault %s", ev)
	}

	writeHistory(t, ops, c.faults)
	c.checkLayouts("at the end of the history")

	healStart := time.Now()
	heal(t, c)
	t.Logf("heal (%s) took %v", c.healBy, time.Since(healStart).Round(time.Millisecond))
	c.checkFinal(ops)
}

// writer is one goroutine of a producer: it writes random keys and records
// what it did. Only its goroutine touches it until it returns.
type writer struct {
	c              *historyCluster
	p              *producer.Producer
	client, worker int
	keys           []string
	rng            *rand.Rand
	seq            int
	ops            []histOp
}

// next returns a random write, not yet timed: 70% puts of a value no other
// write writes, 30% deletes.
func (w *writer) next() histOp {
	o := histOp{Client: w.client, Worker: w.worker, Key: w.keys[w.rng.IntN(len(w.keys))], Kind: opDelete}
	if w.rng.IntN(10) < 7 {
		w.seq++
		o.Kind, o.Value = opPut, strconv.Quote(fmt.Sprintf("w%d.%d", w.worker, w.seq))
	}
	return o
}

// proceed waits while the cluster asks writers to pause, and reports
// whether ctx is still running.
func (w *writer) proceed(ctx context.Context) bool {
	for w.c.paused.Load() && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	return ctx.Err() == nil
}

// single writes one key at a time with Put and Delete until ctx ends. An
// operation in flight then still runs to its end.
func (w *writer) single(ctx context.Context) {
	for w.proceed(ctx) {
		o := w.next()
		octx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		o.Start = w.c.since()
		var err error
		if o.Kind == opPut {
			err = w.p.Put(octx, o.Key, []byte(o.Value))
		} else {
			_, err = w.p.Delete(octx, o.Key)
		}
		o.End = w.c.since()
		cancel()
		o.setOutcome(err)
		w.ops = append(w.ops, o)
		time.Sleep(time.Duration(2+w.rng.IntN(8)) * time.Millisecond)
	}
}

// pipelined runs Do pipelines of 2 to 16 random writes (a key may appear
// twice in one: the two writes are then concurrent) until ctx ends. Each
// operation is timed from the moment Do starts it to the moment Do hands
// its result back.
func (w *writer) pipelined(ctx context.Context) {
	for w.proceed(ctx) {
		batch := make([]histOp, 2+w.rng.IntN(15))
		started := make([]bool, len(batch))
		for i := range batch {
			batch[i] = w.next()
			batch[i].Pipelined = true
		}
		octx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = w.p.Do(octx, len(batch), func(i int) producer.Op {
			started[i] = true
			batch[i].Start = w.c.since()
			if batch[i].Kind == opPut {
				return producer.Op{Kind: producer.OpPut, Key: batch[i].Key, Value: []byte(batch[i].Value)}
			}
			return producer.Op{Kind: producer.OpDelete, Key: batch[i].Key}
		}, func(i int, r producer.Result) {
			batch[i].End = w.c.since()
			if !started[i] { // Do gave up before starting it: never sent
				batch[i].Start, batch[i].Outcome, batch[i].Err = batch[i].End, failed, fmt.Sprint(r.Err)
				return
			}
			batch[i].setOutcome(r.Err)
		})
		cancel()
		w.ops = append(w.ops, batch...)
		time.Sleep(time.Duration(20+w.rng.IntN(40)) * time.Millisecond)
	}
}

// setOutcome records the outcome of a write that returned err.
func (o *histOp) setOutcome(err error) {
	switch {
	case err == nil:
		o.Outcome = acked
		return
	case errors.Is(err, producer.ErrUnavailable), errors.Is(err, producer.ErrNoNodes):
		// Refused by the routing before any request left the producer.
		o.Outcome = failed
	default:
		o.Outcome = unknown
	}
	o.Err = err.Error()
}

// opFigures counts a history's operations.
type opFigures struct {
	ops, puts, deletes, gets, pipelined, acked, unknown, failed int
}

func countOps(ops []histOp) opFigures {
	var f opFigures
	for _, o := range ops {
		f.ops++
		switch o.Kind {
		case opPut:
			f.puts++
		case opDelete:
			f.deletes++
		case opGet:
			f.gets++
		}
		if o.Pipelined {
			f.pipelined++
		}
		switch o.Outcome {
		case acked:
			f.acked++
		case unknown:
			f.unknown++
		case failed:
			f.failed++
		}
	}
	return f
}

func faultCounts(evs []faultEvent) string {
	n := map[faultKind]int{}
	for _, ev := range evs {
		n[ev.Kind]++
	}
	var parts []string
	for _, k := range []faultKind{faultKill, faultStop, faultConsul, faultAdd, faultRemove} {
		if n[k] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
		}
	}
	return strings.Join(parts, ", ")
}

// healMode is how the replicas are brought together after the faults.
type healMode uint8

const (
	// healAuto: by the repair command if client_producer has one, else by
	// waiting.
	healAuto healMode = iota
	// healByRepair: run `client_producer repair` once, then check.
	healByRepair
	// healByWaiting: run nothing; wait for the background repair (nodes
	// comparing their replicas by themselves), polling check 1.
	healByWaiting
)

func (h healMode) String() string {
	return [...]string{healAuto: "auto", healByRepair: "client_producer repair", healByWaiting: "waiting for background repair"}[h]
}

// heal brings the replicas of every key together after the faults and
// before the checks. It is the seam between this test and the repair being
// built: the `client_producer repair` command and the nodes' background
// anti-entropy. Until they exist, heal runs the command if
// `client_producer repair --help` succeeds, and otherwise waits up to the
// heal wait (3 minutes by default) for the replicas to agree, polling
// check 1 every 5 seconds; c.healBy forces one way. It does not fail the
// test itself: the checks that follow say what is still wrong.
func heal(t *testing.T, c *historyCluster) {
	t.Helper()
	if c.healBy == healAuto {
		c.healBy = healByWaiting
		if repairCommandExists(t) {
			c.healBy = healByRepair
		}
	}
	switch c.healBy {
	case healByRepair:
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, clientBin, "--consul", c.agent.Addr, "repair")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		t.Logf("client_producer repair: %v\n%s", err, truncate(out.String(), 4000))
		require.NoError(t, err, "client_producer repair failed")
	case healByWaiting:
		deadline := time.Now().Add(c.healWait)
		last := -1
		for {
			states, _ := c.readReplicas(c.keys)
			differ := 0
			for _, s := range states {
				if !sameState(s) {
					differ++
				}
			}
			if differ != last {
				t.Logf("heal: %d of %d keys differ between their replicas at %s", differ, len(c.keys), fmtOffset(c.since()))
				last = differ
			}
			if differ == 0 || time.Now().After(deadline) {
				return
			}
			time.Sleep(5 * time.Second)
		}
	}
}

var repairProbe struct {
	once   sync.Once
	exists bool
}

// repairCommandExists reports whether client_producer has a repair
// subcommand (`client_producer repair --help` exits 0).
func repairCommandExists(t *testing.T) bool {
	t.Helper()
	repairProbe.once.Do(func() {
		repairProbe.exists = exec.Command(clientBin, "repair", "--help").Run() == nil
	})
	return repairProbe.exists
}

// maxDetailed bounds the keys each check describes in full.
const maxDetailed = 8

// checkFinal reads every key from each of its replicas and runs checks 1 to
// 3 against the writes recorded in ops, reporting every failure with the
// key, its replicas, what each holds and the key's history.
func (c *historyCluster) checkFinal(ops []histOp) {
	t := c.t
	t.Helper()
	states, strays := c.readReplicas(c.keys)
	hist := byKey(ops)
	var differ, lost, back []string
	var missing, different, unreadable int
	for _, key := range c.keys {
		st := states[key]
		replicas := make([]string, len(st))
		for i, s := range st {
			replicas[i] = s.String()
		}
		describe := func(head string) string {
			return fmt.Sprintf("key %s: %s\n  replicas (owner first): %s\n  writes of %s (seconds since the history began):\n%s",
				key, head, strings.Join(replicas, " "), key, describeHistory(hist[key], 25))
		}
		if !sameState(st) {
			switch {
			case slices.ContainsFunc(st, func(s replicaState) bool { return s.Err != "" }):
				unreadable++
			case slices.ContainsFunc(st, func(s replicaState) bool { return s.Present != st[0].Present }):
				missing++
			default:
				different++
			}
			differ = append(differ, describe("replicas differ"))
		}
		var whyLost, whyBack []string
		for _, s := range st {
			if s.Err != "" {
				continue
			}
			v := judgeFinal(hist[key], s.Present, s.Value, supersedeMargin)
			switch {
			case v.Resurrected:
				whyBack = append(whyBack, s.Node+" "+v.Why)
			case !v.OK:
				whyLost = append(whyLost, s.Node+" "+v.Why)
			}
		}
		if len(whyBack) > 0 {
			back = append(back, describe(strings.Join(whyBack, "; ")))
		}
		if len(whyLost) > 0 {
			lost = append(lost, describe(strings.Join(whyLost, "; ")))
		}
	}
	t.Logf("checks: replicas differ on %d of %d keys (%d: present on some replicas only, %d: different values, %d: a replica unreadable); "+
		"acknowledged write lost on %d keys; deleted key back on %d keys; %d copies on members that are not the key's replicas",
		len(differ), len(c.keys), missing, different, unreadable, len(lost), len(back), strays)
	report := func(check string, msgs []string) {
		if len(msgs) == 0 {
			return
		}
		shown := msgs[:min(len(msgs), maxDetailed)]
		t.Errorf("%s: %d of %d keys (the first %d below)\n%s", check, len(msgs), len(c.keys), len(shown), strings.Join(shown, "\n"))
	}
	report("check 1, every replica identical, fails", differ)
	report("check 2, no acknowledged write lost unless superseded, fails", lost)
	report("check 3, no deleted key back, fails", back)
	if t.Failed() {
		t.Logf("faults (seconds since the history began):")
		for _, ev := range c.faults {
			t.Logf("  %s", ev)
		}
	}
}

// writeHistory writes every operation and fault, one JSON object a line, to
// history.jsonl in t's artifact directory (kept with go test -artifacts).
func writeHistory(t *testing.T, ops []histOp, faults []faultEvent) {
	t.Helper()
	path := filepath.Join(t.ArtifactDir(), "history.jsonl")
	f, err := os.Create(path)
	require.NoError(t, err)
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, ev := range faults {
		require.NoError(t, enc.Encode(map[string]any{"fault": ev.Kind.String(), "node": ev.Node,
			"start_ns": ev.Start, "end_ns": ev.End, "note": ev.Note}))
	}
	for _, o := range ops {
		require.NoError(t, enc.Encode(map[string]any{"client": o.Client, "worker": o.Worker, "op": o.Kind.String(),
			"key": o.Key, "value": o.Value, "found": o.Found, "start_ns": o.Start, "end_ns": o.End,
			"outcome": o.Outcome.String(), "pipelined": o.Pipelined, "err": o.Err}))
	}
	require.NoError(t, w.Flush())
	require.NoError(t, f.Close())
	t.Logf("history written to %s (kept with go test -artifacts)", path)
}
