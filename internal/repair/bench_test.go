package repair_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
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

// gatedCaller is a Caller whose calls wait while the gate is closed: the
// benchmark stops the background repair between two of its requests
// without ending it.
type gatedCaller struct {
	*repair.NodeCaller
	mu   sync.Mutex
	open chan struct{} // closed while the gate is open
	// records counts the records of the DIGEST replies.
	records atomic.Int64
}

func newGatedCaller(nc *repair.NodeCaller) *gatedCaller {
	return &gatedCaller{NodeCaller: nc, open: make(chan struct{})}
}

func (g *gatedCaller) Call(ctx context.Context, node string, req protocol.Request) (protocol.Reply, error) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
		return protocol.Reply{}, ctx.Err()
	}
	rep, err := g.NodeCaller.Call(ctx, node, req)
	for _, d := range rep.Digests {
		g.records.Add(int64(d.Keys))
	}
	return rep, err
}

// set opens or closes the gate.
func (g *gatedCaller) set(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		if !open {
			g.open = make(chan struct{})
		}
	default:
		if open {
			close(g.open)
		}
	}
}

// BenchmarkForeground measures pipelined GETs of random keys with the
// background repair stopped and running, interleaved: each op is a window
// of fgWindow GETs with every node's Background held between two of its
// requests, then one with it running at BackgroundConfig's defaults and no
// pause between rounds (the most it can cost: with the default Interval it
// rests between rounds). It reports the GETs per second of each, the cost,
// 1 - on/off, in percent, the same per CPU second of the process (less
// sensitive to the other processes of the machine), and the records the
// background digested per second. ZSHARD_REPAIR_BENCH_RATE sets MaxRate.
func BenchmarkForeground(b *testing.B) {
	c := startBench(b)
	rate := 0
	if s := os.Getenv("ZSHARD_REPAIR_BENCH_RATE"); s != "" {
		var err error
		if rate, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	const fgWindow = 200_000
	rng := rand.New(rand.NewPCG(1, 2))
	gets := func() time.Duration {
		start := time.Now()
		err := c.p.Do(context.Background(), fgWindow, func(int) producer.Op {
			return producer.Op{Kind: producer.OpGet, Key: fmt.Sprintf("key-%d", rng.IntN(c.keys))}
		}, func(_ int, r producer.Result) {
			if r.Err != nil {
				b.Error(r.Err)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var gates []*gatedCaller
	for _, n := range c.names {
		nc := repair.NewNodeCaller(c.cc, 0)
		defer nc.Close()
		gate := newGatedCaller(nc)
		gates = append(gates, gate)
		wg.Go(func() {
			_ = repair.Background(ctx, repair.BackgroundConfig{Node: n, Consul: c.cc, Caller: gate, Interval: time.Millisecond,
				MaxRate: rate, OnRound: func(r repair.Report, err error) {
					if err != nil && ctx.Err() == nil {
						b.Errorf("background round of %s: %v", n, err)
					}
				}})
		})
	}
	defer func() {
		cancel()
		for _, g := range gates {
			g.set(true)
		}
		wg.Wait()
	}()
	var off, on, offCPU, onCPU time.Duration
	for b.Loop() {
		cpu := cpuTime(b)
		off += gets()
		offCPU += cpuTime(b) - cpu
		for _, g := range gates {
			g.set(true)
		}
		cpu = cpuTime(b)
		on += gets()
		onCPU += cpuTime(b) - cpu
		for _, g := range gates {
			g.set(false)
		}
	}
	offRate, onRate := float64(fgWindow*b.N)/off.Seconds(), float64(fgWindow*b.N)/on.Seconds()
	b.ReportMetric(offRate, "off-gets/s")
	b.ReportMetric(onRate, "on-gets/s")
	b.ReportMetric(100*(1-onRate/offRate), "cost-%")
	// The same per CPU second of this process (nodes, producer and
	// background): what the background takes from the foreground, less
	// the noise of other processes on the machine.
	b.ReportMetric(100*(1-offCPU.Seconds()/onCPU.Seconds()), "cpu-cost-%")
	var digested int64
	for _, g := range gates {
		digested += g.records.Load()
	}
	b.ReportMetric(float64(digested)/on.Seconds(), "bg-records/s")
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

// cpuTime is the CPU time (user and system) this process used so far: the
// in-process nodes', the repair's and Consul client's.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkBackgroundRound measures the rounds of every node's
// Background, unpaced and with no pause between rounds, on replicas in
// sync: what a round costs in CPU (the nodes', the repair's and the
// Consul client's, all in this process) per partition and per record,
// in the steady state (the first round of each node, which builds the
// placement table, is left out). An op is one round of each node. The
// pace of Background (MaxRate, MaxPartitionRate) turns these costs into
// the share of the machine it takes.
func BenchmarkBackgroundRound(b *testing.B) {
	c := startBench(b)
	ctx, cancel := context.WithCancel(context.Background())
	rounds := make(chan repair.Report, 64)
	var wg sync.WaitGroup
	for _, n := range c.names {
		wg.Go(func() {
			_ = repair.Background(ctx, repair.BackgroundConfig{Node: n, Consul: c.cc, Interval: time.Millisecond,
				MaxRate: -1, MaxPartitionRate: -1, OnRound: func(r repair.Report, err error) {
					if err != nil {
						b.Errorf("background round of %s: %v", n, err)
					}
					select {
					case rounds <- r:
					case <-ctx.Done():
					}
				}})
		})
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	for range c.names {
		<-rounds
	}
	var parts, records int64
	cpu0 := cpuTime(b)
	for b.Loop() {
		for range c.names {
			r := <-rounds
			if r.Differing != 0 {
				b.Fatalf("replicas differ: %+v", r)
			}
			parts += int64(r.Partitions)
			records += r.Keys
		}
	}
	cpu := cpuTime(b) - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(parts), "cpu-ns/partition")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(records), "cpu-ns/record")
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
