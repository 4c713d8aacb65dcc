package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store/durable"
	"github.com/zshard/zshard/internal/supervisor"
)

// Default ports: node-<i> binds its request endpoint on BaseRequestPort+i
// and its ingest endpoint on BaseIngestPort+i (docs/PROTOCOL.md).
const (
	BaseRequestPort = supervisor.DefaultBaseRequestPort
	BaseIngestPort  = supervisor.DefaultBaseIngestPort
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
	fs.DurationVar(&f.catchUpSettle, "catch-up-settle", supervisor.DefaultCatchUpSettle, "with --data-dir, Consul and R > 0: how long a restarted node, registered as not ready for reads, waits before it copies what it missed from its replicas (writes routed before the producers saw it land meanwhile)")
}

// args renders the flags for a child process.
func (f *nodeFlags) args() []string {
	return []string{
		"--bind", f.bind, "--log-level", f.logLevel,
		"--max-key-bytes", strconv.Itoa(f.maxKeyBytes),
		"--max-value-bytes", strconv.Itoa(f.maxValueBytes),
		"--max-message-bytes", strconv.Itoa(f.maxMessageBytes),
		"--max-batch-ops", strconv.Itoa(f.maxBatchOps),
		"--max-reply-bytes", strconv.Itoa(f.maxReplyBytes),
		"--sync", f.sync, // --data-dir is per node: the supervisor adds it
		"--cache-mb", strconv.Itoa(f.cacheMB),
		"--catch-up-settle", f.catchUpSettle.String(),
	}
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
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})), nil
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		nf       nodeFlags
		sf       supervisorFlags
		static   int
		baseReq  int
		baseIngs int
	)
	root := &cobra.Command{
		Use:   "server_consumer N | --static N | node",
		Short: "zshard server: run storage nodes",
		Long: `server_consumer runs zshard storage nodes. Each node binds a request endpoint
(ZeroMQ ROUTER: REQ and DEALER clients) and an ingest endpoint (ZeroMQ PULL:
PUSH producers); the wire protocol is docs/PROTOCOL.md.

  server_consumer N            supervises nodes registered in Consul: writes an
                               add signal for node-0..node-{N-1} (unless one
                               exists), launches every node whose add signal it
                               can claim, each as its own process registering
                               itself, follows add/remove signals under zshard/
                               (blocking queries), restarts crashed nodes with
                               backoff, and stops them all on Ctrl-C or SIGTERM.
                               N may be 0: then it only follows signals.
  server_consumer --static N   runs node-0..node-{N-1} without Consul as child
                               processes on request ports 2000+i and ingest
                               ports 2100+i, and stops them all on Ctrl-C.
  server_consumer node ...     runs one node in this process.

Environment:
  CONSUL_HTTP_ADDR   Consul agent address (default 127.0.0.1:8500); --consul
                     overrides it.

Signals (written by client_producer add-node/remove-node, or by hand):
  consul kv put zshard/nodes/node-4 '{"state":"up"}'       # add node-4
  consul kv put zshard/nodes/node-4 '{"state":"removed"}'  # remove it
  '{"state":"up","host":"h1"}' asks the supervisor started with --host h1.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageError{fmt.Errorf("want at most one argument, the number of nodes; got %q", args)}
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if cmd.Flags().Changed("static") {
					return usageError{errors.New("give either N (Consul mode) or --static N, not both")}
				}
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 0 || n > 100 {
					return usageError{fmt.Errorf("number of nodes %q: want 0 to 100", args[0])}
				}
				logger, err := nf.logger(stderr)
				if err != nil {
					return usageError{err}
				}
				return runSupervisor(cmd.Context(), n, sf, &nf, baseReq, baseIngs, logger, stdout, stderr)
			}
			if static <= 0 {
				return usageError{errors.New("give N (nodes registered in Consul) or --static N (no Consul); see --help")}
			}
			if baseReq < baseIngs+static && baseIngs < baseReq+static {
				return usageError{fmt.Errorf("--static %d: request ports %d+ overlap ingest ports %d+", static, baseReq, baseIngs)}
			}
			if baseReq < 1 || baseIngs < 1 || max(baseReq, baseIngs)+static-1 > 65535 {
				return usageError{fmt.Errorf("--static %d: ports out of range", static)}
			}
			logger, err := nf.logger(stderr)
			if err != nil {
				return usageError{err}
			}
			return runStatic(cmd.Context(), staticConfig{
				N: static, BaseRequestPort: baseReq, BaseIngestPort: baseIngs,
				NodeArgs: nf.args(), DataDir: nf.dataDir, Logger: logger, Stdout: stdout, Stderr: stderr,
			})
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	nf.register(root, true)
	root.Flags().IntVar(&static, "static", 0, "run N nodes (node-0..node-{N-1}) without Consul, each in its own process")
	root.Flags().IntVar(&baseReq, "base-rep-port", BaseRequestPort, "request port of node-0 (node-i uses base+i; other names get free ports)")
	root.Flags().IntVar(&baseIngs, "base-pull-port", BaseIngestPort, "ingest port of node-0 (node-i uses base+i; other names get free ports)")
	sf.register(root)
	root.AddCommand(newNodeCmd(&nf, stdout, stderr))
	return root
}

func newNodeCmd(nf *nodeFlags, stdout, stderr io.Writer) *cobra.Command {
	var name string
	var repPort, pullPort int
	var reg registerFlags
	cmd := &cobra.Command{
		Use:   "node",
		Short: "run one node in this process (what --static starts N times)",
		Long: `node runs one storage node in this process until SIGINT or SIGTERM.
Without --rep-port/--pull-port, node-<i> binds 2000+i and 2100+i and any other
name binds free ports. With --consul it registers in Consul once serving (a
TTL check kept passing while its request endpoint answers PING) and
deregisters when stopped. With --data-dir and --consul it first deletes the
keys of partitions the current layout no longer gives it (moved away by a
rebalance while it was down); when the cluster's R > 0 it then registers with
Meta ready=false (writes reach it, reads do not), copies what it missed from
its ready replicas, and registers ready=true (docs/DURABILITY.md). Once serving (and registered) it prints one line to
stdout:
  READY <name> <request endpoint> <ingest endpoint>
Exit codes: 0 stopped by a signal, 1 failure, 2 usage error, 3 port in use.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := nf.logger(stderr)
			if err != nil {
				return usageError{err}
			}
			dr, di := supervisor.Ports(name, BaseRequestPort, BaseIngestPort)
			if !cmd.Flags().Changed("rep-port") {
				repPort = dr
			}
			if !cmd.Flags().Changed("pull-port") {
				pullPort = di
			}
			cfg := node.Config{
				Name: name, Bind: nf.bind, RequestPort: repPort, IngestPort: pullPort,
				Limits: protocol.Limits{
					MaxKeyBytes: nf.maxKeyBytes, MaxValueBytes: nf.maxValueBytes,
					MaxMessageBytes: nf.maxMessageBytes, MaxBatchOps: nf.maxBatchOps,
				},
				MaxReplyBytes: nf.maxReplyBytes,
				Logger:        logger,
			}
			policy, err := node.ParseSyncPolicy(nf.sync)
			if err != nil {
				return usageError{fmt.Errorf("--sync: %w", err)}
			}
			cfg.Sync = policy
			st, err := openStore(nf.dataDir, policy, int64(nf.cacheMB)<<20, logger)
			if err != nil {
				return err
			}
			if st != nil {
				cfg.Store = st
				defer func() {
					if err := st.Close(); err != nil {
						logger.Error("closing the data directory", "err", err)
					}
				}()
			}
			return runNode(cmd.Context(), cfg, reg, nf, logger, stdout)
		},
	}
	cmd.Flags().StringVar(&name, "name", "node-0", "node name (node-<i> selects the default ports)")
	cmd.Flags().IntVar(&repPort, "rep-port", 0, "request endpoint TCP port; 0 = a free port (default 2000+i for node-<i>)")
	cmd.Flags().IntVar(&pullPort, "pull-port", 0, "ingest endpoint TCP port; 0 = a free port (default 2100+i for node-<i>)")
	reg.register(cmd)
	return cmd
}

type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// run executes the CLI and returns the process exit code: 0, 1 on failure,
// 2 on a usage error.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "server_consumer:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return supervisor.ExitUsage
		}
		if errors.Is(err, supervisor.ErrPortTaken) {
			return supervisor.ExitPortTaken
		}
		return 1
	}
	return 0
}
