package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/bench"
)

// newBenchNodeCmd is the hidden node process `bench` starts for each node
// of its private clusters: one node registered under a private service name,
// running until its stdin closes.
func newBenchNodeCmd() *cobra.Command {
	var addr, service, name string
	var st bench.NodeStorage
	cmd := newBenchChildCmd("bench-node", "Run one node of a bench cluster (started by bench)",
		func(cmd *cobra.Command) error {
			var cc *consul.Config // no --consul: a node of a static bench cluster
			if addr != "" {
				cc = &consul.Config{Addr: addr, Service: service, Prefix: service + "/"}
			}
			return bench.RunNode(cmd.Context(), cc, name, st, os.Stdin, cmd.OutOrStdout())
		})
	cmd.Flags().StringVar(&addr, "consul", "", "Consul agent address (none: register nowhere)")
	cmd.Flags().StringVar(&service, "service", "", "private service name")
	cmd.Flags().StringVar(&name, "name", "", "node name")
	cmd.Flags().StringVar(&st.DataRoot, "data-root", "", "durable node: keep the data in <dir>/<name> (default: in memory)")
	cmd.Flags().StringVar(&st.Sync, "sync", "always", "durable node: sync policy (always, batch, none)")
	return cmd
}

// newBenchEchoCmd is the hidden REQ/REP echo process of bench's paired
// latency baseline: it prints its endpoint and echoes until stdin closes.
func newBenchEchoCmd() *cobra.Command {
	return newBenchChildCmd("bench-echo", "Run the REQ/REP echo of bench's latency baseline (started by bench)",
		func(cmd *cobra.Command) error { return bench.RunEcho(os.Stdin, cmd.OutOrStdout()) })
}

// newBenchChildCmd returns a hidden command that bench starts as a child
// process and that runs run. The global flags do not apply to it.
func newBenchChildCmd(use, short string, run func(*cobra.Command) error) *cobra.Command {
	return &cobra.Command{
		Use:               use,
		Short:             short,
		Hidden:            true,
		Args:              cobra.NoArgs,
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE:              func(cmd *cobra.Command, _ []string) error { return run(cmd) },
	}
}
