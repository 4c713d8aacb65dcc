package bench

import (
	"log/slog"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/sharding"
)

// Config configures Run. Zero fields take the defaults in their comments.
type Config struct {
	// Consul is the agent to register the private clusters in; Service and
	// Prefix are replaced by a private name per run.
	Consul consul.Config
	// Static runs the private clusters without Consul: the nodes register
	// nowhere and the producer routes to them as a static cluster
	// (producer.Config.Static). Consul is then not used. Default false.
	Static bool
	// Keys is K, the keys loaded per run. Default 100000.
	Keys int
	// ValueSize is V, the encoded size of every value in bytes. Default 100.
	ValueSize int
	// Nodes is the number of nodes of each run. Default 4.
	Nodes int
	// Replicas is R. Default 0.
	Replicas int
	// Algorithms to measure. Default: all of sharding.Algorithms().
	Algorithms []string
	// Codecs to measure. Default: JSON and msgpack.
	Codecs []protocol.Codec
	// Storage lists the node engines to measure, each a run of its own per
	// algorithm and codec: "memory" (the default engine) or a --sync policy
	// of a durable node ("always", "batch", "none"), whose data goes to a
	// fresh temporary directory per node. Default: memory.
	Storage []string
	// Spawn is the command line that runs one node process (RunNode); the
	// flags --consul, --service and --name are appended. Empty runs the nodes
	// in this process.
	Spawn []string
	// SpawnEcho is the command line that runs the REQ/REP echo server of the
	// paired latency baseline in its own process (RunEcho); set it with Spawn
	// so the baseline crosses processes as the node requests do. Empty runs
	// it in this process.
	SpawnEcho []string
	// LatencyOps is how many one-at-a-time GET_ONE (and REQ/REP echo round
	// trips) are timed. Default min(Keys, 20000).
	LatencyOps int
	// Loaders is how many goroutines run each throughput phase, each over its
	// own range of keys with its own Bulk or Do (and so its own sockets).
	// Default 1.
	Loaders int
	// Window and PipelineBatch are the producer's pipelining window (messages
	// in flight per node) and operations per BATCH message. Default: the
	// producer's defaults.
	Window, PipelineBatch int
	// Baselines runs raw ZeroMQ PUSH/PULL and REQ/REP echo. Redis runs
	// redis-benchmark against a private redis-server when installed.
	// RedisAOF adds SET runs against redis-servers with appendonly yes and
	// appendfsync always, then everysec (the durable baselines).
	Baselines, Redis, RedisAOF bool
	// ProfileDir, when set, receives a CPU profile per node process and run
	// (<dir>/<algorithm>-<codec>-node-i.pprof).
	ProfileDir string
	// Progress, when set, is called at the start of each phase; the returned
	// function is called with the operations done so far (from one
	// goroutine) and finally with total.
	Progress func(phase string, total int) func(done int)
	// Logger receives progress notes. Default: discard.
	Logger *slog.Logger
}

func (c *Config) fill() {
	if c.Keys == 0 {
		c.Keys = 100000
	}
	if c.ValueSize == 0 {
		c.ValueSize = 100
	}
	if c.Nodes == 0 {
		c.Nodes = 4
	}
	if len(c.Algorithms) == 0 {
		c.Algorithms = sharding.Algorithms()
	}
	if len(c.Codecs) == 0 {
		c.Codecs = []protocol.Codec{protocol.JSON, protocol.Msgpack}
	}
	if len(c.Storage) == 0 {
		c.Storage = []string{StorageMemory}
	}
	if c.LatencyOps == 0 {
		c.LatencyOps = min(c.Keys, 20000)
	}
	if c.Loaders == 0 {
		c.Loaders = 1
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = func(string, int) func(int) { return func(int) {} }
	}
}
