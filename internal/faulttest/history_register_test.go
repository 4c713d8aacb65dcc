package faulttest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/zshard/zshard/internal/producer"
)

// runRegister is the linearizability subtest: each key belongs to exactly
// one writer goroutine of one producer, which puts, deletes and reads it one
// operation at a time (producers configured with quorum writes and quorum
// reads), while the same faults as in the history test happen; then every
// key is read once more by its owner. Each key's history must be
// linearizable for a single register (porcupine, registerModel): every
// read returns the value of the last write before it, or of a write
// concurrent with it or whose outcome is unknown.
func runRegister(t *testing.T, k historyKnobs, durable bool) {
	rng := rngFor(t, k.seed)
	t.Logf("seed %d, subtest source %s", k.seed, t.Name())
	c := startHistoryCluster(t, durable)
	const keysPerWorker = 16
	ps := []*producer.Producer{c.newProducer(), c.newProducer(), c.newProducer()}
	ctx, stopWorkers := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var workers []*regWorker
	for i, p := range ps {
		for range 2 {
			w := &regWorker{writer: writer{c: c, p: p, client: i, worker: len(workers),
				rng: rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))}}
			for j := range keysPerWorker {
				w.keys = append(w.keys, fmt.Sprintf("r-p%d-w%d-%02d", i, w.worker, j))
			}
			c.keys = append(c.keys, w.keys...)
			workers = append(workers, w)
			wg.Go(func() { w.run(ctx) })
		}
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			stopWorkers()
			wg.Wait()
		})
	}
	t.Cleanup(stop)

	time.Sleep(2 * time.Second)
	plan := faultPlan(rng, 5)
	t.Logf("faults planned: %v", plan)
	c.inject(rng, plan, 4*time.Second)
	for c.since() < k.seconds/2 {
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	for _, w := range workers { // a last read of every key
		for _, key := range w.keys {
			w.do(key, opGet)
		}
	}
	historyLen := c.since()

	var ops []histOp
	for _, w := range workers {
		ops = append(ops, w.ops...)
	}
	f := countOps(ops)
	t.Logf("register history: %d operations (%d puts, %d deletes, %d reads) on %d keys, one goroutine each, in %v: %d acknowledged or answered, %d unknown, %d failed; %d faults: %s",
		f.ops, f.puts, f.deletes, f.gets, len(c.keys), historyLen.Round(time.Millisecond), f.acked, f.unknown, f.failed,
		len(c.faults), faultCounts(c.faults))
	for _, ev := range c.faults {
		t.Logf("  fault %s", ev)
	}

	writeHistory(t, ops, c.faults)
	c.checkLayouts("at the end of the history")

	hist := byKey(ops)
	var illegal, undecided []string
	var illegalOps []histOp
	for _, key := range c.keys {
		switch checkRegister(hist[key], time.Minute) {
		case porcupine.Illegal:
			illegal = append(illegal, key)
			illegalOps = append(illegalOps, hist[key]...)
		case porcupine.Unknown:
			undecided = append(undecided, key)
		}
	}
	t.Logf("linearizability: %d of %d keys not linearizable, %d undecided within a minute each", len(illegal), len(c.keys), len(undecided))
	if len(undecided) > 0 {
		t.Errorf("porcupine could not decide %d keys within a minute each: %v", len(undecided), undecided)
	}
	if len(illegal) == 0 {
		return
	}
	states, _ := c.readReplicas(illegal)
	var msgs []string
	for _, key := range illegal[:min(len(illegal), maxDetailed)] {
		var replicas []string
		for _, s := range states[key] {
			replicas = append(replicas, s.String())
		}
		at := firstViolation(hist[key], time.Minute)
		around := describeHistory(hist[key], 40)
		if at >= 0 {
			around = describeAround(hist[key], at, 20, 5)
		}
		msgs = append(msgs, fmt.Sprintf("key %s: not linearizable as a register from the operation marked >>\n  replicas now (owner first): %s\n  history (seconds since the history began):\n%s",
			key, strings.Join(replicas, " "), around))
	}
	_, info := porcupine.CheckOperationsVerbose(registerModel, registerOps(illegalOps), time.Minute)
	vis := filepath.Join(t.ArtifactDir(), "register.html")
	if err := porcupine.VisualizePath(registerModel, info, vis); err != nil {
		vis = "not written: " + err.Error()
	}
	t.Errorf("register check fails: %d of %d keys not linearizable: %v\nvisualization: %s (kept with go test -artifacts)\n%s\nfaults:\n%s",
		len(illegal), len(c.keys), illegal, vis, strings.Join(msgs, "\n"), faultList(c.faults))
}

// faultList renders the faults, one a line.
func faultList(evs []faultEvent) string {
	var b strings.Builder
	for _, ev := range evs {
		fmt.Fprintf(&b, "  %s\n", ev)
	}
	return b.String()
}

// regWorker owns some keys and operates on them one at a time.
type regWorker struct {
	writer
}

// run puts (40%), deletes (15%) and reads (45%) random keys of its own
// until ctx ends.
func (w *regWorker) run(ctx context.Context) {
	for w.proceed(ctx) {
		key := w.keys[w.rng.IntN(len(w.keys))]
		switch r := w.rng.IntN(100); {
		case r < 40:
			w.do(key, opPut)
		case r < 55:
			w.do(key, opDelete)
		default:
			w.do(key, opGet)
		}
		time.Sleep(time.Duration(2+w.rng.IntN(8)) * time.Millisecond)
	}
}

// do runs one operation on key and records it.
func (w *regWorker) do(key string, kind opKind) {
	o := histOp{Client: w.client, Worker: w.worker, Key: key, Kind: kind}
	if kind == opPut {
		w.seq++
		o.Value = strconv.Quote(fmt.Sprintf("w%d.%d", w.worker, w.seq))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o.Start = w.c.since()
	var err error
	switch kind {
	case opPut:
		err = w.p.Put(ctx, key, []byte(o.Value))
	case opDelete:
		_, err = w.p.Delete(ctx, key)
	case opGet:
		var v []byte
		v, err = w.p.Get(ctx, key)
		o.Found, o.Value = err == nil, string(v)
	}
	o.End = w.c.since()
	if kind == opGet {
		// A read that found nothing answered "absent"; any other error
		// is no answer, and the read is left out of the check.
		if err == nil || errors.Is(err, producer.ErrNotFound) {
			o.Outcome = acked
		} else {
			o.Outcome, o.Err = unknown, err.Error()
		}
	} else {
		o.setOutcome(err)
	}
	w.ops = append(w.ops, o)
}
