package repair_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/repair"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
)

// The benchmarks share one cluster per process: a Consul agent, four
// in-process nodes at R=2 with the default partition count, and
// benchKeys() keys.
var (
	benchOnce sync.Once
	bench     *benchCluster
	benchErr  error
)

type benchCluster struct {
	addr  string
	cc    *consul.Client
	p     *producer.Producer
	keys  int
	names []string
}

// benchKeys is ZSHARD_REPAIR_BENCH_KEYS, default 100000.
func benchKeys(b *testing.B) int {
	if s := os.Getenv("ZSHARD_REPAIR_BENCH_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	return 100_000
}

// startBench starts the shared cluster. Its Consul agent and nodes live
// until the process ends.
func startBench(b *testing.B) *benchCluster {
	b.Helper()
	benchOnce.Do(func() { bench, benchErr = newBench(benchKeys(b)) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return bench
}

// processTB is the testing.TB of what lives until the process ends: its
// cleanups run in TestMain, after every test and benchmark.
type processTB struct {
	testing.TB // nil: only the methods below are used
	mu         sync.Mutex
	cleanups   []func()
	dirs       []string
}

var process = &processTB{}

func (p *processTB) Helper()           {}
func (p *processTB) Failed() bool      { return false }
func (p *processTB) Fatal(args ...any) { panic(fmt.Sprint(args...)) }
func (p *processTB) Log(args ...any)   { fmt.Fprintln(os.Stderr, args...) }
func (p *processTB) Logf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, f+"\n", a...)
}
func (p *processTB) Errorf(f string, a ...any) { p.Logf(f, a...) }

func (p *processTB) TempDir() string {
	d, err := os.MkdirTemp("", "repair-bench-")
	if err != nil {
		panic(err)
	}
	p.mu.Lock()
	p.dirs = append(p.dirs, d)
	p.mu.Unlock()
	return d
}

func (p *processTB) Cleanup(f func()) {
	p.mu.Lock()
	p.cleanups = append(p.cleanups, f)
	p.mu.Unlock()
}

// end runs the cleanups, last first, and removes the directories.
func (p *processTB) end() {
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
	for _, d := range p.dirs {
		_ = os.RemoveAll(d)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	process.end()
	os.Exit(code)
}

func newBench(keys int) (c *benchCluster, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	agent := testcluster.StartConsul(process)
	c = &benchCluster{addr: agent.Addr, keys: keys}
	if c.cc, err = consul.New(consul.Config{Addr: agent.Addr}); err != nil {
		return nil, err
	}
	ctx := context.Background()
	for i := range 4 {
		nd, err := node.New(node.Config{Name: fmt.Sprintf("node-%d", i)})
		if err != nil {
			return nil, err
		}
		if err := nd.Start(); err != nil {
			return nil, err
		}
		reg, err := c.cc.Register(ctx, consul.Registration{Name: nd.Name(), RepURL: nd.RequestEndpoint(), PullURL: nd.IngestEndpoint()})
		if err != nil {
			return nil, err
		}
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); reg.Run(rctx, func() error { return nil }) }()
		process.Cleanup(func() {
			cancel()
			<-done
			_ = nd.Close()
		})
		c.names = append(c.names, nd.Name())
	}
	for {
		ms, err := c.cc.Members(ctx)
		if err == nil && len(ms) == 4 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.p, err = producer.New(ctx, producer.Config{Consul: consul.Config{Addr: agent.Addr}, Codec: protocol.Msgpack,
		Settings: layout.Settings{Replicas: 2}})
	if err != nil {
		return nil, err
	}
	process.Cleanup(func() { _ = c.p.Close() })
	bk, err := c.p.NewBulk()
	if err != nil {
		return nil, err
	}
	defer bk.Close()
	v, _ := producer.EncodeValue(protocol.Msgpack, fmt.Sprintf("%0100d", 0))
	for i := range keys {
		if err := bk.Put(ctx, fmt.Sprintf("key-%d", i), v); err != nil {
			return nil, err
		}
	}
	return c, bk.Sync(ctx)
}

// BenchmarkForeground measures pipelined GETs of random keys (10000 per
// op) with the background repair off, and on at its default rate with no
// pause between rounds (the most it can cost). Run with -count to
// interleave the two and compare them with benchstat.
func BenchmarkForeground(b *testing.B) {
	c := startBench(b)
	for _, bg := range []string{"off", "on"} {
		b.Run("background="+bg, func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var rounds sync.Map
			if bg == "on" {
				for _, n := range c.names {
					wg.Go(func() {
						_ = repair.Background(ctx, repair.BackgroundConfig{Node: n, Consul: c.cc, Interval: time.Millisecond,
							OnRound: func(r repair.Report, err error) {
								if err != nil {
									rounds.Store(n, err.Error())
								}
							}})
					})
				}
			}
			const ops = 10000
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			start := time.Now()
			n := 0
			for b.Loop() {
				err := c.p.Do(context.Background(), ops, func(int) producer.Op {
					return producer.Op{Kind: producer.OpGet, Key: fmt.Sprintf("key-%d", rng.IntN(c.keys))}
				}, func(_ int, r producer.Result) {
					if r.Err != nil {
						b.Error(r.Err)
					}
				})
				if err != nil {
					b.Fatal(err)
				}
				n += ops
			}
			b.ReportMetric(float64(n)/time.Since(start).Seconds(), "gets/s")
			cancel()
			wg.Wait()
			rounds.Range(func(k, v any) bool { b.Logf("background round of %v failed: %v", k, v); return true })
		})
	}
}

// BenchmarkRepairInSync measures a repair of the whole cluster when every
// replica agrees, against reading every key once (producer.Scan, what
// client_producer getall does).
func BenchmarkRepairInSync(b *testing.B) {
	c := startBench(b)
	b.Run("repair", func(b *testing.B) {
		cfg := repair.Config{Producer: producer.Config{Consul: consul.Config{Addr: c.addr}, Codec: protocol.Msgpack}, Restart: true}
		for b.Loop() {
			rep, err := repair.Run(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			if rep.Differing != 0 {
				b.Fatalf("replicas differ: %+v", rep)
			}
		}
		b.ReportMetric(float64(c.keys)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			n := 0
			if err := c.p.Scan(context.Background(), func(string, []byte) error { n++; return nil }); err != nil {
				b.Fatal(err)
			}
			if n != c.keys {
				b.Fatalf("scanned %d keys of %d", n, c.keys)
			}
		}
		b.ReportMetric(float64(c.keys)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
	})
}
