package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zshard/zshard/internal/producer"
)

// workload is the work of one run: every phase goes over keys, writing
// value or expecting it back, through the producer p.
type workload struct {
	cfg    Config
	p      *producer.Producer
	keys   []string
	value  []byte
	prefix string // names the run in progress lines
	cpu    cpuMeter
	fails  failures
}

// bulkPut puts every key through Bulk (PUSH, batched) from cfg.Loaders
// goroutines, each with its own Bulk over its own range of keys, and times
// it (wall and CPU time) until every node's SYNC barrier confirmed the
// writes.
func (w *workload) bulkPut(ctx context.Context) Throughput {
	n := len(w.keys)
	var doneOps atomic.Int64
	stopTick := ticker(w.cfg.Progress(w.prefix+"bulk PUT (PUSH+SYNC)", n), &doneOps, n)
	cpu := w.cpu.read()
	start := time.Now()
	var wg sync.WaitGroup
	for l := range w.cfg.Loaders {
		lo, hi := l*n/w.cfg.Loaders, (l+1)*n/w.cfg.Loaders
		wg.Go(func() { w.bulkPutRange(ctx, lo, hi, &doneOps) })
	}
	wg.Wait()
	t := throughput(n, time.Since(start))
	t.CPUCost = w.cpu.since(cpu, n)
	stopTick()
	return t
}

// bulkPutRange is one loader of bulkPut: keys[lo:hi] through a Bulk of its
// own, then a SYNC.
func (w *workload) bulkPutRange(ctx context.Context, lo, hi int, doneOps *atomic.Int64) {
	b, err := w.p.NewBulk()
	if err != nil {
		w.fails.add(hi-lo, "bulk PUT", err)
		return
	}
	defer b.Close()
	for i := lo; i < hi; i++ {
		if err := b.Put(ctx, w.keys[i], w.value); err != nil {
			w.fails.add(1, "bulk PUT", err)
		}
		if i&1023 == 0 {
			doneOps.Store(int64(i - lo))
		}
	}
	if err := b.Sync(ctx); err != nil {
		w.cfg.Logger.Error("bulk sync", "err", err)
		w.fails.add(hi-lo, "bulk PUT SYNC", err)
	}
}

// ackPut puts every key as an acknowledged, pipelined PUT request.
func (w *workload) ackPut(ctx context.Context) (Throughput, error) {
	return w.timedDo(ctx, "acknowledged PUT (pipelined)",
		func(i int) producer.Op { return producer.Op{Kind: producer.OpPut, Key: w.keys[i], Value: w.value} },
		func(i int, r producer.Result) {
			if r.Err != nil {
				w.fails.add(1, "acknowledged PUT", r.Err)
			}
		})
}

// pipelinedGet reads every key back with pipelined GET_ONE requests.
func (w *workload) pipelinedGet(ctx context.Context) (Throughput, error) {
	return w.timedDo(ctx, "GET_ONE (pipelined)",
		func(i int) producer.Op { return producer.Op{Kind: producer.OpGet, Key: w.keys[i]} },
		func(i int, r producer.Result) {
			if r.Err != nil || len(r.Value) != len(w.value) {
				w.fails.add(1, "pipelined GET_ONE", r.Err)
			}
		})
}

// timedDo runs one operation per key through Do from cfg.Loaders
// goroutines, each over its own range of the keys (and its own sockets),
// and times it (wall and CPU time).
func (w *workload) timedDo(ctx context.Context, phase string, op func(int) producer.Op, done func(int, producer.Result)) (Throughput, error) {
	n := len(w.keys)
	var count atomic.Int64
	stop := ticker(w.cfg.Progress(w.prefix+phase, n), &count, n)
	defer stop()
	cpu := w.cpu.read()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, w.cfg.Loaders)
	for l := range w.cfg.Loaders {
		lo, hi := l*n/w.cfg.Loaders, (l+1)*n/w.cfg.Loaders
		wg.Go(func() {
			errs[l] = w.p.Do(ctx, hi-lo, func(i int) producer.Op { return op(lo + i) }, func(i int, r producer.Result) {
				done(lo+i, r)
				count.Add(1)
			})
		})
	}
	wg.Wait()
	t := throughput(n, time.Since(start))
	t.CPUCost = w.cpu.since(cpu, n)
	return t, errors.Join(errs...)
}

// pairedGet times cfg.LatencyOps GET_ONE, one at a time, each followed by
// one raw REQ/REP echo round trip: the two see the same host load, so
// their ratio is paired.
func (w *workload) pairedGet(ctx context.Context) (get, echo Latency, err error) {
	e, err := newEchoPair(w.cfg.ValueSize, w.cfg.SpawnEcho)
	if err != nil {
		return get, echo, err
	}
	defer e.close()
	n, ops := len(w.keys), w.cfg.LatencyOps
	lat := make([]time.Duration, 0, ops)
	elat := make([]time.Duration, 0, ops)
	prog := w.cfg.Progress(w.prefix+"GET_ONE (one at a time)", ops)
	for i := range min(1000, n) { // warm the sockets and the caches
		_, _ = w.p.Get(ctx, w.keys[i])
		_ = e.roundTrip()
	}
	var getTime, echoTime time.Duration
	for i := range ops {
		t0 := time.Now()
		v, err := w.p.Get(ctx, w.keys[(i*7919)%n])
		t1 := time.Now()
		if err := e.roundTrip(); err != nil {
			return get, echo, fmt.Errorf("REQ/REP echo: %w", err)
		}
		t2 := time.Now()
		lat, elat = append(lat, t1.Sub(t0)), append(elat, t2.Sub(t1))
		getTime, echoTime = getTime+t1.Sub(t0), echoTime+t2.Sub(t1)
		if err != nil || len(v) != len(w.value) {
			w.fails.add(1, "GET_ONE", err)
		}
		if i%1000 == 0 {
			prog(i)
		}
	}
	get, echo = latency(lat, getTime), latency(elat, echoTime)
	prog(ops)
	return get, echo, nil
}

// ticker reports an atomic counter to prog every 200ms until stopped.
func ticker(prog func(int), done *atomic.Int64, total int) func() {
	stop := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				prog(total)
				return
			case <-t.C:
				prog(int(done.Load()))
			}
		}
	}()
	return func() { close(stop); <-finished }
}

// failures counts the operations of a run that failed or answered wrongly
// and keeps the first failure for the report. Safe for concurrent use.
type failures struct {
	n     atomic.Int64
	first atomic.Pointer[string]
}

// add counts n operations of phase that failed with err; a nil err means
// an answer with the wrong value.
func (f *failures) add(n int, phase string, err error) {
	f.n.Add(int64(n))
	if err == nil {
		err = errors.New("wrong value")
	}
	msg := phase + ": " + err.Error()
	f.first.CompareAndSwap(nil, &msg)
}

// count returns the number of failed operations.
func (f *failures) count() int { return int(f.n.Load()) }

// firstMessage returns the first failure, "" if none.
func (f *failures) firstMessage() string {
	if m := f.first.Load(); m != nil {
		return *m
	}
	return ""
}
