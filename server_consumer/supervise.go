package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/supervisor"
)

// supervisorFlags configure `server_consumer N`.
type supervisorFlags struct {
	consul    string
	service   string
	host      string
	advertise string
}

func (f *supervisorFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.consul, "consul", "", "Consul agent address host:port (default $CONSUL_HTTP_ADDR, else "+consul.DefaultAddr+")")
	fs.StringVar(&f.service, "service", "zshard", "Consul service name the nodes register under")
	fs.StringVar(&f.host, "host", "", "name of this host in claims and in add signals that target a host (default: the hostname)")
	fs.StringVar(&f.advertise, "advertise", "", "address the nodes register as reachable at (default: the bind address, or this host's first IPv4 address when binding 0.0.0.0, looked up again before every heartbeat)")
}

// registerFlags configure a node's own registration in Consul.
type registerFlags struct {
	consul    string
	service   string
	host      string
	advertise string
	ttl       time.Duration
}

func (f *registerFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.consul, "consul", "", "register in the Consul agent at host:port once serving (default: do not register)")
	fs.StringVar(&f.service, "service", "zshard", "Consul service name to register under")
	fs.StringVar(&f.host, "host", "", "supervisor host recorded in the registration (Meta host)")
	fs.StringVar(&f.advertise, "advertise", "", "address written into the registered endpoints (default: the bind address, or this host's first IPv4 address when binding 0.0.0.0)")
	fs.DurationVar(&f.ttl, "ttl", consul.DefaultTTL, "TTL of the health check; heartbeats every TTL/3")
}

func runSupervisor(ctx context.Context, n int, sf supervisorFlags, nf *nodeFlags, baseReq, baseIngest int, logger *slog.Logger, stdout, stderr io.Writer) error {
	c, err := consul.New(consul.Config{Addr: sf.consul, Service: sf.service, Logger: logger})
	if err != nil {
		return usageError{err}
	}
	nodeArgs := nf.args()
	if sf.advertise != "" {
		nodeArgs = append(nodeArgs, "--advertise", sf.advertise)
	}
	return supervisor.Run(ctx, supervisor.Config{
		Consul:          c,
		Host:            sf.host,
		Nodes:           n,
		NodeArgs:        nodeArgs,
		DataDir:         nf.dataDir,
		BaseRequestPort: baseReq,
		BaseIngestPort:  baseIngest,
		Stdout:          stdout,
		Stderr:          stderr,
		Logger:          logger,
	})
}

// runNode serves one node until ctx is done, registered in Consul when
// --consul is given.
func runNode(ctx context.Context, cfg node.Config, rf registerFlags, nf *nodeFlags, logger *slog.Logger, stdout io.Writer) error {
	p := supervisor.NodeProcess{
		Node: cfg, Host: rf.host, Advertise: rf.advertise, TTL: rf.ttl,
		DataDir: nf.dataDir, CatchUpSettle: nf.catchUpSettle,
		Ready: stdout, Logger: logger,
	}
	if rf.consul != "" {
		c, err := consul.New(consul.Config{Addr: rf.consul, Service: rf.service, Logger: logger})
		if err != nil {
			return usageError{err}
		}
		p.Consul = c
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	return supervisor.RunNode(ctx, p)
}
