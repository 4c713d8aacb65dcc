package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/zshard/zshard/internal/bench"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/sharding"
)

// benchLong is the help text of `client_producer bench`.
const benchLong = `bench measures the producer end to end. For every algorithm and codec it
starts a private cluster (its own service name and KV prefix in the Consul
agent of --consul, N fresh node processes), then:

  bulk PUT       K keys of V-byte values through PUSH (BATCH messages), until
                 every node's SYNC barrier confirmed them
  ack PUT        the K keys again as acknowledged PUT requests, pipelined
  pipelined GET  K GET_ONE requests, pipelined (BATCHes of --pipeline-batch,
                 --window of them in flight per node)
  GET            one GET_ONE at a time on one connection: ops/s, p50/p99/p999,
                 each followed by one raw REQ/REP echo (echo p50: a paired
                 baseline that saw the same host load)
  keys per node  after the load, with the peak over the mean

Each throughput phase also reports its CPU cost: the CPU time (user +
system) of the node processes and of this process over the phase, per
operation (CPU/op; cpu_seconds_per_million in --json, the same number).

In the same run it measures the baselines: raw ZeroMQ PUSH/PULL (V-byte
messages) and REQ/REP echo round trips, and redis-benchmark SET/GET with and
without pipelining over K random keys (-r K) against a private redis-server
when one is installed (scripts/bootstrap.sh --bench), with the CPU time of
redis-server and redis-benchmark per request. It ends with each goal of
docs/BENCHMARKS.md as a ratio. scripts/bench.sh runs it with a private Consul agent.`

// benchOptions are the flags of `client_producer bench`: those that map
// one to one onto bench.Config are parsed into cfg, the others are turned
// into it by config.
type benchOptions struct {
	cfg                                    bench.Config
	algorithms, codecs, storage            []string
	inProcess, noBaselines, noRedis, quiet bool
	profile, plots                         string
}

func newBenchCmd(g *globalConfig) *cobra.Command {
	o := &benchOptions{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the producer against raw ZeroMQ and redis, in one run",
		Long:  benchLong,
		Example: `  client_producer bench --keys 100000
  client_producer bench --keys 1000000 --json > bench.json
  client_producer bench --algorithms hrw --codecs msgpack --profile prof/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, g) },
	}
	o.addFlags(cmd.Flags())
	return cmd
}

func (o *benchOptions) addFlags(f *pflag.FlagSet) {
	f.IntVar(&o.cfg.Keys, "keys", 100000, "K: keys loaded per algorithm and codec")
	f.IntVar(&o.cfg.ValueSize, "value-size", 100, "V: encoded size of every value in bytes (34..255)")
	f.IntVar(&o.cfg.Nodes, "nodes", 4, "nodes of each private cluster")
	f.StringSliceVar(&o.algorithms, "algorithms", nil, fmt.Sprintf("algorithms to measure (default: --hash if set, else all of %v)", sharding.Algorithms()))
	f.StringSliceVar(&o.codecs, "codecs", []string{"json", "msgpack"}, "codecs to measure")
	f.BoolVar(&o.inProcess, "in-process", false, "run the nodes inside this process instead of as child processes")
	f.IntVar(&o.cfg.LatencyOps, "latency-ops", 20000, "one-at-a-time GET_ONE (and REQ/REP echoes) timed for the latency figures")
	f.IntVar(&o.cfg.Loaders, "loaders", 1, "goroutines per throughput phase (bulk, pipelined PUT and GET), each over its own key range and sockets")
	f.IntVar(&o.cfg.Window, "window", 0, "pipelined request messages in flight per node (0: the producer's default, 64)")
	f.IntVar(&o.cfg.PipelineBatch, "pipeline-batch", 0, "operations per pipelined BATCH message; 1 = one request per operation (0: the producer's default, 64)")
	f.StringSliceVar(&o.storage, "storage", []string{bench.StorageMemory}, "node engines to measure, each a run of its own: memory, or the --sync policy of durable nodes (always, batch, none) in fresh temporary directories; any durable one adds redis SET runs with appendonly yes, appendfsync always and everysec")
	f.BoolVar(&o.noBaselines, "no-baselines", false, "skip the raw ZeroMQ baselines")
	f.BoolVar(&o.noRedis, "no-redis", false, "skip redis-benchmark")
	f.StringVar(&o.profile, "profile", "", "write CPU profiles (producer.pprof and one per node process and run) to this directory")
	f.StringVar(&o.plots, "plots", "", "write throughput and latency plots (PNG) to this directory")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no phase lines and no progress bar on stderr")
}

// run is the body of `client_producer bench`.
func (o *benchOptions) run(cmd *cobra.Command, g *globalConfig) error {
	cfg, err := o.config(cmd, g)
	if err != nil {
		return err
	}
	if o.profile != "" {
		stop, err := startBenchProfile(o.profile)
		if err != nil {
			return err
		}
		defer stop()
		cfg.ProfileDir = o.profile
	}
	cfg.Progress = o.progress(cmd.ErrOrStderr(), g.JSON)
	res, err := bench.Run(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	if o.plots != "" {
		if err := writeBenchPlots(res, o.plots); err != nil {
			return err
		}
	}
	if g.JSON {
		return printJSON(cmd.OutOrStdout(), res)
	}
	printBench(cmd.OutOrStdout(), res)
	return nil
}

// config checks the flags and returns the bench.Config they describe.
func (o *benchOptions) config(cmd *cobra.Command, g *globalConfig) (bench.Config, error) {
	cfg := o.cfg
	cfg.Consul = g.consulConfig()
	cfg.Static = g.Static > 0
	cfg.Replicas = g.Replicas
	cfg.Algorithms = o.algorithms
	if len(o.algorithms) == 0 && cmd.Flags().Changed("hash") {
		cfg.Algorithms = []string{g.Hash}
	}
	for _, a := range cfg.Algorithms {
		if err := (sharding.Config{Algorithm: a}).Validate(); err != nil {
			return cfg, err
		}
	}
	var err error
	if cfg.Codecs, err = parseBenchCodecs(o.codecs); err != nil {
		return cfg, err
	}
	if cfg.ValueSize < 34 || cfg.ValueSize > 255 {
		return cfg, fmt.Errorf("--value-size %d: want 34..255 bytes", cfg.ValueSize)
	}
	cfg.Baselines, cfg.Redis = !o.noBaselines, !o.noRedis
	for _, st := range o.storage {
		if st != bench.StorageMemory {
			if _, err := node.ParseSyncPolicy(st); err != nil {
				return cfg, fmt.Errorf("--storage %q: want memory, always, batch or none", st)
			}
			cfg.RedisAOF = cfg.Redis
		}
		cfg.Storage = append(cfg.Storage, st)
	}
	if !o.inProcess {
		exe, err := os.Executable()
		if err != nil {
			return cfg, err
		}
		cfg.Spawn = []string{exe, "bench-node"}
		cfg.SpawnEcho = []string{exe, "bench-echo"}
	}
	return cfg, nil
}

// parseBenchCodecs turns --codecs into codecs.
func parseBenchCodecs(names []string) ([]protocol.Codec, error) {
	var codecs []protocol.Codec
	for _, c := range names {
		switch c {
		case "json":
			codecs = append(codecs, protocol.JSON)
		case "msgpack":
			codecs = append(codecs, protocol.Msgpack)
		default:
			return nil, fmt.Errorf("--codecs %q: want json and/or msgpack", c)
		}
	}
	return codecs, nil
}

// startBenchProfile creates dir and starts the producer's CPU profile in
// dir/producer.pprof; the returned function stops it.
func startBenchProfile(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.Create(filepath.Join(dir, "producer.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); _ = f.Close() }, nil
}

// progress returns bench.Config.Progress for stderr: a line per phase and
// a progress bar on a terminal, nothing with --quiet or --json.
func (o *benchOptions) progress(stderr io.Writer, json bool) func(phase string, total int) func(int) {
	show := !o.quiet && !json && isTerminal(stderr)
	return func(phase string, total int) func(int) {
		if !o.quiet && !json {
			fmt.Fprintf(stderr, "%s %s\n", time.Now().Format("15:04:05"), phase)
		}
		bar := newProgress(stderr, int64(total), phase, show)
		last := 0
		return func(done int) {
			if done > last {
				bar.Add(done - last)
				last = done
			}
			if done >= total {
				bar.Finish()
			}
		}
	}
}

func printBench(w io.Writer, r *bench.Result) {
	fmt.Fprintf(w, "zshard producer benchmark: %d keys, %d-byte values, %d nodes (%s), R=%d, %d CPUs, %s\n\n",
		r.Keys, r.ValueSize, r.Nodes, r.NodeMode, r.Replicas, r.CPUs, r.Started.Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "algorithm\tcodec\tstorage\tbulk PUT/s\tCPU/op\tack PUT/s\tCPU/op\tpipelined GET/s\tCPU/op\tGET/s\tGET p50\tp99\tp999\techo p50\tGET/echo p50\tpeak/mean\t")
	for _, run := range r.Runs {
		ratio := 0.0
		if run.Echo.P50 > 0 {
			ratio = float64(run.Get.P50) / float64(run.Echo.P50)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.2fx\t%.3f\t\n", run.Algorithm, run.Codec, run.Storage,
			rate(run.BulkPut.OpsPerSec), cpuPerOp(run.BulkPut.CPUCost), rate(run.AckPut.OpsPerSec), cpuPerOp(run.AckPut.CPUCost),
			rate(run.PipeGet.OpsPerSec), cpuPerOp(run.PipeGet.CPUCost), rate(run.Get.OpsPerSec),
			us(run.Get.P50), us(run.Get.P99), us(run.Get.P999), us(run.Echo.P50), ratio, run.PeakOverMean)
	}
	_ = tw.Flush()
	fmt.Fprintln(w, "CPU/op: CPU time (user + system) of the node processes and the producer over the phase, per operation")
	fmt.Fprintln(w)
	for _, run := range r.Runs {
		names := slices.Sorted(maps.Keys(run.KeysPerNode))
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = fmt.Sprintf("%s %d", n, run.KeysPerNode[n])
		}
		fmt.Fprintf(w, "keys per node, %s/%s/%s: %s\n", run.Algorithm, run.Codec, run.Storage, strings.Join(parts, ", "))
	}
	fmt.Fprintln(w, "\nbaselines (same run, same machine):")
	if r.PushPull != nil {
		fmt.Fprintf(w, "  raw ZeroMQ PUSH/PULL, %d-byte messages   %s msg/s%s\n", r.ValueSize, rate(r.PushPull.OpsPerSec), cpuNote(r.PushPull.CPUCost))
	}
	if r.ReqRep != nil {
		fmt.Fprintf(w, "  raw ZeroMQ REQ/REP echo, alone         p50 %s  p99 %s  p999 %s  (%s round trips/s)\n",
			us(r.ReqRep.P50), us(r.ReqRep.P99), us(r.ReqRep.P999), rate(r.ReqRep.OpsPerSec))
	}
	for _, rr := range r.Redis {
		fmt.Fprintf(w, "  redis %-32s %s req/s%s\n", rr.Name, rate(rr.RPS), cpuNote(rr.CPUCost))
	}
	if r.RedisError != "" {
		fmt.Fprintf(w, "  redis: %s\n", r.RedisError)
	}
	if len(r.Goals) > 0 {
		fmt.Fprintln(w, "\ngoals:")
		for _, g := range r.Goals {
			verdict, cmp := "MET   ", ">="
			if !g.Met {
				verdict = "MISSED"
			}
			if g.Lower {
				cmp = "<="
			}
			fmt.Fprintf(w, "  %s %-52s %.2fx (goal %s %.1fx)\n", verdict, g.Name, g.Ratio, cmp, g.Target)
		}
	}
}

func rate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

// cpuPerOp renders a CPU cost as microseconds of CPU per operation; "-"
// when it was not measured.
func cpuPerOp(c *bench.CPUCost) string {
	if c == nil {
		return "-"
	}
	return fmt.Sprintf("%.2fus", c.CPUSecondsPerMillion)
}

// cpuNote renders a baseline's CPU cost after its rate: the CPU per
// operation and how it splits over the processes.
func cpuNote(c *bench.CPUCost) string {
	if c == nil {
		return ""
	}
	names := slices.Sorted(maps.Keys(c.ByProcess))
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.2fs", n, c.ByProcess[n])
	}
	return fmt.Sprintf("  %s CPU/op (%s)", cpuPerOp(c), strings.Join(parts, ", "))
}

func us(d time.Duration) string { return fmt.Sprintf("%.0fus", float64(d)/1e3) }
