package main

import (
	"context"
	"io"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/consulflag"
	"github.com/zshard/zshard/internal/supervisor"
)

// supervisorFlags configure `server_consumer N`.
type supervisorFlags struct {
	consul    string
	service   string
	host      string
	advertise string
	access    consulflag.Flags
}

func (f *supervisorFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.consul, "consul", "", "Consul agent address host:port (default $CONSUL_HTTP_ADDR, else "+consul.DefaultAddr+")")
	fs.StringVar(&f.service, "service", "zshard", "Consul service name the nodes register under")
	fs.StringVar(&f.host, "host", "", "name of this host in claims and in add signals that target a host (default: the hostname)")
	fs.StringVar(&f.advertise, "advertise", "", "address the nodes register as reachable at (default: the bind address, or this host's first IPv4 address when binding 0.0.0.0, looked up again before every heartbeat)")
	f.access.Register(fs)
}

func runSupervisor(ctx context.Context, n int, sf supervisorFlags, nf *nodeFlags, baseReq, baseIngest int, logger *slog.Logger, stdout, stderr io.Writer) error {
	cc := consul.Config{Addr: sf.consul, Service: sf.service, Logger: logger}
	sf.access.Apply(&cc)
	c, err := consul.New(cc)
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
