package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/supervisor"
)

// Default ports: node-<i> binds its request endpoint on BaseRequestPort+i
// and its ingest endpoint on BaseIngestPort+i (docs/PROTOCOL.md).
const (
	BaseRequestPort = supervisor.DefaultBaseRequestPort
	BaseIngestPort  = supervisor.DefaultBaseIngestPort
)

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
  server_consumer ping [EP]    sends PING to a node (a probe): exit 0 if it answers.

Every node serves Prometheus metrics at http://<bind>:<port>/metrics, node-i
on 2200+i (--base-metrics-port; 0: none), registered in Consul as Meta
metrics; the supervisor serves its own on --metrics-port (2300; 0: none).
See docs/OPERATIONS.md.

Environment:
  CONSUL_HTTP_ADDR   Consul agent address (default 127.0.0.1:8500); --consul
                     overrides it. https://host:port uses TLS.
  CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE
                     the ACL token (--consul-token-file overrides them).
  CONSUL_HTTP_SSL, CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY
                     TLS to the agent (--consul-cacert etc. override them).
  A call refused by a Consul ACL ends the program with exit code 4 and names
  the permission the token lacks (docs/SECURITY.md).

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
				N: static, BaseRequestPort: baseReq, BaseIngestPort: baseIngs, BaseMetricsPort: sf.baseMetricsPort,
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
	root.AddCommand(newPingCmd(stdout))
	return root
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
		if errors.Is(err, noderun.ErrPortTaken) {
			return supervisor.ExitPortTaken
		}
		if errors.Is(err, consul.ErrPermissionDenied) {
			return supervisor.ExitPermission
		}
		return 1
	}
	return 0
}
