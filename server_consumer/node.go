package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/consulflag"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/supervisor"
)

// newNodeCmd is `server_consumer node`: one node in this process, run by
// the node runtime until the command's context ends.
func newNodeCmd(nf *nodeFlags, stdout, stderr io.Writer) *cobra.Command {
	var name string
	var repPort, pullPort, metricsPort int
	var reg registerFlags
	cmd := &cobra.Command{
		Use:   "node",
		Short: "run one node in this process (what --static starts N times)",
		Long: `node runs one storage node in this process until SIGINT or SIGTERM.
Without --rep-port/--pull-port, node-<i> binds 2000+i and 2100+i and any other
name binds free ports. It serves Prometheus metrics over HTTP at /metrics on
--metrics-port (node-<i>: 2200+i, other names: a free port; 0 turns them off),
on the same address as its endpoints, registered in Consul as Meta metrics
(docs/OPERATIONS.md). With --consul it registers in Consul once serving (a
TTL check kept passing while its request endpoint answers PING) and
deregisters when stopped. With --data-dir and --consul it first deletes the
keys of partitions the current layout no longer gives it (moved away by a
rebalance while it was down), and all its keys if it was away longer than
--tombstone-ttl and R > 0. With --consul, when the cluster's R > 0, the node,
durable or in memory, registers with Meta ready=false (writes reach it, reads
do not), copies its partitions from its ready replicas, applied by version,
and registers ready=true (docs/DURABILITY.md). Once serving (and registered)
it prints one line to stdout:
  READY <name> <request endpoint> <ingest endpoint>
Exit codes: 0 stopped by a signal, 1 failure, 2 usage error, 3 port in use,
4 refused by a Consul ACL.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger, err := nf.logger(stderr)
			if err != nil {
				return usageError{err}
			}
			budget, _ := nf.budget() // checked by nf.logger
			if soft, hard, err := raiseFileLimit(); err != nil || soft < 4096 {
				logger.Warn("low limit of open files: each client connection takes one", "soft", soft, "hard", hard, "err", err)
			} else {
				logger.Debug("open files limit", "soft", soft)
			}
			dr, di := supervisor.Ports(name, BaseRequestPort, BaseIngestPort)
			if !cmd.Flags().Changed("rep-port") {
				repPort = dr
			}
			if !cmd.Flags().Changed("pull-port") {
				pullPort = di
			}
			metrics := true
			switch {
			case !cmd.Flags().Changed("metrics-port"):
				metricsPort = supervisor.MetricsPort(name, supervisor.DefaultBaseMetricsPort)
			case metricsPort == 0:
				metrics = false
			case metricsPort < 0 || metricsPort > 65535:
				return usageError{fmt.Errorf("--metrics-port %d: want a TCP port, or 0 for none", metricsPort)}
			}
			cfg := node.Config{
				Name: name, Bind: nf.bind, RequestPort: repPort, IngestPort: pullPort,
				Limits: protocol.Limits{
					MaxKeyBytes: nf.maxKeyBytes, MaxValueBytes: nf.maxValueBytes,
					MaxMessageBytes: nf.maxMessageBytes, MaxBatchOps: nf.maxBatchOps,
				},
				MaxReplyBytes: nf.maxReplyBytes,
				MemoryBudget:  budget,
				MaxClockAhead: nf.maxClockAhead,
				TombstoneTTL:  nf.tombstoneTTL,
				Logger:        logger,
			}
			if cfg.Sync, err = node.ParseSyncPolicy(nf.sync); err != nil {
				return usageError{fmt.Errorf("--sync: %w", err)}
			}
			warnPlaintext(logger, nf.bind, &nf.curve)
			return runNode(cmd.Context(), cfg, reg, nf, metrics, metricsPort, logger, stdout)
		},
	}
	cmd.Flags().StringVar(&name, "name", "node-0", "node name (node-<i> selects the default ports)")
	cmd.Flags().IntVar(&repPort, "rep-port", 0, "request endpoint TCP port; 0 = a free port (default 2000+i for node-<i>)")
	cmd.Flags().IntVar(&pullPort, "pull-port", 0, "ingest endpoint TCP port; 0 = a free port (default 2100+i for node-<i>)")
	cmd.Flags().IntVar(&metricsPort, "metrics-port", 0, "Prometheus /metrics HTTP port; 0 = no metrics (default 2200+i for node-<i>, a free port for other names)")
	reg.register(cmd)
	return cmd
}

// registerFlags configure a node's own registration in Consul.
type registerFlags struct {
	consul    string
	service   string
	host      string
	advertise string
	ttl       time.Duration
	access    consulflag.Flags
}

func (f *registerFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.consul, "consul", "", "register in the Consul agent at host:port once serving (default: do not register)")
	fs.StringVar(&f.service, "service", "zshard", "Consul service name to register under")
	fs.StringVar(&f.host, "host", "", "supervisor host recorded in the registration (Meta host)")
	fs.StringVar(&f.advertise, "advertise", "", "address written into the registered endpoints (default: the bind address, or this host's first IPv4 address when binding 0.0.0.0)")
	fs.DurationVar(&f.ttl, "ttl", consul.DefaultTTL, "TTL of the health check; heartbeats every TTL/3")
	f.access.Register(fs)
}

// runNode serves one node until ctx is done, registered in Consul when
// --consul is given.
func runNode(ctx context.Context, cfg node.Config, rf registerFlags, nf *nodeFlags, metrics bool, metricsPort int, logger *slog.Logger, stdout io.Writer) error {
	rc := noderun.Config{
		Node: cfg, Host: rf.host, Advertise: rf.advertise, TTL: rf.ttl,
		DataDir: nf.dataDir, CacheBytes: int64(nf.cacheMB) << 20, CatchUpSettle: nf.catchUpSettle,
		RepairInterval: cmp.Or(nf.repairInterval, -1), // the flag's 0: off
		RepairRate:     nf.repairRate,
		Ready:          stdout, Logger: logger,
		Metrics: metrics, MetricsPort: metricsPort,
	}
	var err error
	if rc.Node.Curve, rc.Curve, err = nf.curve.server(cfg.Name); err != nil {
		return usageError{err}
	}
	if rf.consul != "" {
		cc := consul.Config{Addr: rf.consul, Service: rf.service, Logger: logger}
		rf.access.Apply(&cc)
		c, err := consul.New(cc)
		if err != nil {
			return usageError{err}
		}
		rc.Consul = c
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	// SIGHUP re-reads the CURVE allowlists at once (they are also re-read
	// when they change); registered before the node starts, so that an
	// early one does not end the process.
	hup := make(chan os.Signal, 1)
	if rc.Node.Curve != nil {
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
	}
	s, err := noderun.Start(ctx, rc)
	var se *noderun.StoreError
	if errors.As(err, &se) {
		return fmt.Errorf("--data-dir: %w", se.Err)
	}
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			s.Stop()
			return nil
		case <-hup:
			if err := s.ReloadAllowlist(); err != nil {
				logger.Warn("SIGHUP: CURVE allowlist not reloaded; the previous one stays in force", "err", err)
			} else {
				logger.Info("SIGHUP: CURVE allowlist reloaded")
			}
		}
	}
}
