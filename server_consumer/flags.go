package main

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/repair"
	"github.com/zshard/zshard/internal/store/durable"
)

// nodeFlags are the flags that configure one node; --static forwards them
// to every node it starts.
type nodeFlags struct {
	bind            string
	logLevel        string
	maxKeyBytes     int
	maxValueBytes   int
	maxMessageBytes int
	maxBatchOps     int
	maxReplyBytes   int
	dataDir         string
	sync            string
	cacheMB         int
	catchUpSettle   time.Duration
	maxClockAhead   time.Duration
	tombstoneTTL    time.Duration
	repairInterval  time.Duration
	repairRate      int
	curve           curveFlags
}

func (f *nodeFlags) register(cmd *cobra.Command, persistent bool) {
	fs := cmd.Flags()
	if persistent {
		fs = cmd.PersistentFlags()
	}
	fs.StringVar(&f.bind, "bind", node.DefaultBind, "address the endpoints bind (0.0.0.0 for every interface)")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.IntVar(&f.maxKeyBytes, "max-key-bytes", protocol.DefaultMaxKeyBytes, "largest key accepted, in bytes")
	fs.IntVar(&f.maxValueBytes, "max-value-bytes", protocol.DefaultMaxValueBytes, "largest value accepted (encoded), in bytes")
	fs.IntVar(&f.maxMessageBytes, "max-message-bytes", protocol.DefaultMaxMessageBytes, "largest request message accepted, in bytes (twice this drops the connection)")
	fs.IntVar(&f.maxBatchOps, "max-batch-ops", protocol.DefaultMaxBatchOps, "most operations in one BATCH")
	fs.IntVar(&f.maxReplyBytes, "max-reply-bytes", node.DefaultMaxReplyBytes, "largest GET_ALL reply, in bytes (use SCAN beyond)")
	fs.StringVar(&f.dataDir, "data-dir", "", "keep the data on disk: with N or --static each node uses <dir>/<name>, with node the directory itself (default: in memory)")
	fs.StringVar(&f.sync, "sync", string(node.SyncAlways), "with --data-dir, when writes reach the disk: always (an OK or a completed SYNC means on disk), batch (SYNC barriers on disk, other writes within 10ms) or none")
	fs.IntVar(&f.cacheMB, "cache-mb", durable.DefaultCacheBytes>>20, "with --data-dir, the block cache of each node in MiB (blocks read from disk stay here, uncompressed; filled as reads need it)")
	fs.DurationVar(&f.catchUpSettle, "catch-up-settle", noderun.DefaultCatchUpSettle, "with Consul and R > 0: how long a (re)started node, registered as not ready for reads, waits before it copies what it missed from its replicas (writes routed before the producers saw it land meanwhile)")
	fs.DurationVar(&f.maxClockAhead, "max-clock-ahead", hlc.DefaultMaxAhead, "refuse (bad_request) a write whose version is further ahead of this node's clock than this")
	fs.DurationVar(&f.repairInterval, "repair-interval", repair.DefaultInterval, "with Consul and R > 0: pause between two background anti-entropy rounds over the partitions this node leads (0 turns the background repair off)")
	fs.IntVar(&f.repairRate, "repair-rate", repair.DefaultBackgroundRate, "bound of a background repair round, in records per second digested, scanned and written (0: no bound)")
	fs.DurationVar(&f.tombstoneTTL, "tombstone-ttl", node.DefaultTombstoneTTL, "keep the tombstone of a deleted key this long, then purge it; a node with replicas away longer drops its data and catches up from empty")
	f.curve.register(fs)
}

// args renders the flags for a child process.
func (f *nodeFlags) args() []string {
	return append([]string{
		"--bind", f.bind, "--log-level", f.logLevel,
		"--max-key-bytes", strconv.Itoa(f.maxKeyBytes),
		"--max-value-bytes", strconv.Itoa(f.maxValueBytes),
		"--max-message-bytes", strconv.Itoa(f.maxMessageBytes),
		"--max-batch-ops", strconv.Itoa(f.maxBatchOps),
		"--max-reply-bytes", strconv.Itoa(f.maxReplyBytes),
		"--sync", f.sync, // --data-dir is per node: the supervisor adds it
		"--cache-mb", strconv.Itoa(f.cacheMB),
		"--catch-up-settle", f.catchUpSettle.String(),
		"--max-clock-ahead", f.maxClockAhead.String(),
		"--tombstone-ttl", f.tombstoneTTL.String(),
		"--repair-interval", f.repairInterval.String(),
		"--repair-rate", strconv.Itoa(f.repairRate),
	}, f.curve.args()...)
}

// logger checks the node flags, so that a bad one is reported once by the
// command given and not by each node process, and returns the logger they
// select.
func (f *nodeFlags) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", f.logLevel)
	}
	if _, err := node.ParseSyncPolicy(f.sync); err != nil {
		return nil, fmt.Errorf("--sync: %w", err)
	}
	if f.cacheMB < 1 {
		return nil, fmt.Errorf("--cache-mb %d: want a size of at least 1 MiB", f.cacheMB)
	}
	if f.maxClockAhead <= 0 {
		return nil, fmt.Errorf("--max-clock-ahead %v: want a positive duration", f.maxClockAhead)
	}
	if f.tombstoneTTL <= 0 {
		return nil, fmt.Errorf("--tombstone-ttl %v: want a positive duration", f.tombstoneTTL)
	}
	if err := f.curve.check(); err != nil {
		return nil, err
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})), nil
}
