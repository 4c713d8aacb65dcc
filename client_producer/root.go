package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/consulflag"
	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/supervisor"
	"github.com/zshard/zshard/sharding"
)

// globalConfig holds the persistent flags every subcommand shares.
type globalConfig struct {
	Consul   string // Consul agent address; default $CONSUL_HTTP_ADDR or 127.0.0.1:8500
	Hash     string // placement algorithm, one of sharding.Algorithms()
	Replicas int    // R, extra copies per key
	Codec    string // json or msgpack, for requests to nodes
	JSON     bool   // machine-readable output
	// Consistency and ReadConsistency are the write and read consistency
	// levels ("one", "quorum", "all"); empty means the producer's defaults.
	Consistency, ReadConsistency string
	// Static is N of a static cluster (node-0..node-{N-1}, no Consul); 0
	// means follow Consul. NodeHost, BaseRepPort and BasePullPort lay it
	// out as `server_consumer --static N` does.
	Static                    int
	NodeHost                  string
	BaseRepPort, BasePullPort int
	// Access is the Consul ACL token and TLS settings.
	Access consulflag.Flags
	// CurveSecretFile and CurveServerKeyFile select CURVE (docs/SECURITY.md):
	// the client's secret key file and, optionally, the nodes' public key
	// file (default: each node's, from Consul Meta "curve").
	CurveSecretFile, CurveServerKeyFile string
	curve                               *curve.Client // loaded by validate
}

// consulConfig is the Consul client configuration of the global flags.
func (g *globalConfig) consulConfig() consul.Config {
	c := consul.Config{Addr: g.Consul}
	g.Access.Apply(&c)
	return c
}

// needsConsul annotates a command that a static cluster cannot run.
const needsConsul = "needs-consul"

func defaultConsul() string {
	if a := os.Getenv("CONSUL_HTTP_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:8500"
}

// validate checks the global flags.
func (g *globalConfig) validate() error {
	if err := (sharding.Config{Algorithm: g.Hash, Replicas: g.Replicas}).Validate(); err != nil {
		return err
	}
	if g.Codec != "json" && g.Codec != "msgpack" {
		return fmt.Errorf("--codec %q: want json or msgpack", g.Codec)
	}
	if g.Static < 0 || g.Static > sharding.MaxNodes {
		return fmt.Errorf("%w: --static %d: want 1 to %d nodes", errUsage, g.Static, sharding.MaxNodes)
	}
	if g.Static > 0 && (g.BaseRepPort < 1 || g.BasePullPort < 1 || max(g.BaseRepPort, g.BasePullPort)+g.Static-1 > 65535) {
		return fmt.Errorf("%w: --static %d: ports out of range", errUsage, g.Static)
	}
	if g.CurveSecretFile == "" {
		if g.CurveServerKeyFile != "" {
			return errors.New("--curve-server-key needs --curve-secret-file (the client's own key)")
		}
		return nil
	}
	c, err := curve.LoadClient(g.CurveSecretFile, g.CurveServerKeyFile)
	if err != nil {
		return fmt.Errorf("--curve-secret-file: %w", err)
	}
	g.curve = c
	return nil
}

// checkCommand refuses, with --static, a command that needs Consul.
func (g *globalConfig) checkCommand(cmd *cobra.Command) error {
	if g.Static > 0 && cmd.Annotations[needsConsul] != "" {
		return fmt.Errorf("%s %w; start the cluster with `server_consumer N` and drop --static", cmd.Name(), producer.ErrStatic)
	}
	return nil
}

// newRootCmd builds the command tree. Each subcommand lives in its own
// cmd_<name>.go file and is added here; it reads the shared flags from g.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globalConfig{}
	root := &cobra.Command{
		Use:   "client_producer",
		Short: "zshard producer: shard keys over the nodes registered in Consul",
		Long: `client_producer is the zshard producer. It places every key on the nodes
registered in Consul with a pluggable algorithm, drives rebalancing when nodes
join or leave, and compares placement algorithms.

With --static N it needs no Consul: it routes to node-0..node-{N-1} as
` + "`server_consumer --static N`" + ` runs them (requests on 2000+i, ingest on
2100+i of --node-host), placing keys with --hash and -R. Every producer of a
static cluster must be given the same N, --hash and -R; add-node, remove-node
and repair need Consul.

Consul: the agent address comes from --consul or CONSUL_HTTP_ADDR
(https://host:port for TLS), the ACL token from --consul-token-file,
CONSUL_HTTP_TOKEN_FILE or CONSUL_HTTP_TOKEN, TLS from CONSUL_HTTP_SSL,
CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY or the --consul-* flags.
A call refused by a Consul ACL exits with code 4 and names the permission
the token lacks (docs/SECURITY.md).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.validate(); err != nil {
				return err
			}
			return g.checkCommand(cmd)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.Consul, "consul", defaultConsul(), "Consul agent address (default from CONSUL_HTTP_ADDR)")
	pf.StringVar(&g.Hash, "hash", sharding.DefaultAlgorithm, fmt.Sprintf("placement algorithm: %v", sharding.Algorithms()))
	pf.IntVarP(&g.Replicas, "replicas", "R", 0, "extra copies of every key (preference lists of R+1 nodes)")
	pf.StringVar(&g.Codec, "codec", "json", "request encoding: json or msgpack")
	pf.BoolVar(&g.JSON, "json", false, "print machine-readable JSON")
	pf.StringVar(&g.Consistency, "consistency", "quorum", "replicas of a key (of its R+1) that must acknowledge a write: one, quorum or all")
	pf.IntVar(&g.Static, "static", 0, "route to a static cluster of N nodes without Consul, as `server_consumer --static N` runs it")
	pf.StringVar(&g.NodeHost, "node-host", "127.0.0.1", "with --static: the host of the nodes")
	pf.IntVar(&g.BaseRepPort, "base-rep-port", supervisor.DefaultBaseRequestPort, "with --static: request port of node-0 (node-i uses base+i)")
	pf.IntVar(&g.BasePullPort, "base-pull-port", supervisor.DefaultBaseIngestPort, "with --static: ingest port of node-0 (node-i uses base+i)")
	pf.StringVar(&g.ReadConsistency, "read-consistency", "one", "replicas of a key a read asks: one, quorum or all")
	g.Access.Register(pf)
	pf.StringVar(&g.CurveSecretFile, "curve-secret-file", "", "connect to the nodes with CURVE using this secret key file (from keygen; its public key must be in the nodes' allowlist)")
	pf.StringVar(&g.CurveServerKeyFile, "curve-server-key", "", "with --curve-secret-file: the nodes' public key file (default: each node's key as registered in Consul, Meta curve)")

	root.AddCommand(newCompareCmd(g))
	root.AddCommand(newPutCmd(g), newLoadCmd(g), newGetCmd(g), newGetAllCmd(g), newDeleteCmd(g), newStatusCmd(g))
	root.AddCommand(newBenchCmd(g), newBenchNodeCmd(), newBenchEchoCmd())
	root.AddCommand(newAddNodeCmd(g), newRemoveNodeCmd(g), newRepairCmd(g))
	root.AddCommand(newKeygenCmd())
	root.AddCommand(newGradeCmd(g))
	return root
}

// run executes the CLI and returns the process exit code.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	root := newRootCmd(os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "client_producer:", err)
		if errors.Is(err, errUsage) {
			return 2
		}
		if errors.Is(err, consul.ErrPermissionDenied) {
			return exitPermission
		}
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

// exitPermission is the exit code of a call refused by a Consul ACL, as
// server_consumer's.
const exitPermission = 4
