package main

import (
	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/rebalance"
)

func newRemoveNodeCmd(g *globalConfig) *cobra.Command {
	var f rebalanceFlags
	cmd := &cobra.Command{
		Use:   "remove-node NAME",
		Short: "Move a node's keys to the other nodes, then remove it",
		Long: `remove-node shrinks the cluster by one node, rebalancing on the client side:
it takes the rebalance lock, records the migration in Consul (producers then
write to the old and the new owners), copies every partition the node holds
to the nodes that hold it next, verifies the copies, switches the layout
(epoch + 1), and only then writes the remove signal
(zshard/nodes/NAME {"state":"removed"}): its supervisor stops the node.

If it is interrupted, run the same command again to finish.`,
		Example: `  client_producer remove-node node-0
  client_producer remove-node node-0 --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := rebalance.Remove(cmd.Context(), f.config(cmd, g), args[0])
			if err != nil {
				return err
			}
			return printReport(cmd.OutOrStdout(), g, rep, f.DryRun)
		},
	}
	f.register(cmd)
	return cmd
}
