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
	// metricsPort is the supervisor's own metrics endpoint; 0: none.
	metricsPort int
	// baseMetricsPort places node-<i>'s metrics endpoint; 0: none.
	baseMetricsPort int
}

func (f *supervisorFlags) register(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.consul, "consul", "", "Consul agent address host:port (default $CONSUL_HTTP_ADDR, else "+consul.DefaultAddr+")")
	fs.StringVar(&f.service, "service", "zshard", "Consul service name the nodes register under")
	fs.StringVar(&f.host, "host", "", "name of this host in claims and in add signals that target a host (default: the hostname)")
	fs.IntVar(&f.metricsPort, "metrics-port", supervisor.DefaultMetricsPort, "Prometheus /metrics HTTP port of the supervisor itself (nodes running, restarts, claims), on the --bind address; 0 = none")
	fs.IntVar(&f.baseMetricsPort, "base-metrics-port", supervisor.DefaultBaseMetricsPort, "Prometheus /metrics port of node-0 (node-i uses base+i, other names free ports); 0 = the nodes serve no metrics")
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
		BaseMetricsPort: baseMetrics(sf.baseMetricsPort),
		MetricsPort:     sf.metricsPort,
		MetricsBind:     nf.bind,
		Stdout:          stdout,
		Stderr:          stderr,
		Logger:          logger,
	})
}

// baseMetrics maps the flag's 0 (no metrics) to supervisor.Config's
// negative.
func baseMetrics(flag int) int {
	if flag == 0 {
		return -1
	}
	return flag
}
