package main

import (
	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/rebalance"
)

func newRemoveNodeCmd(g *globalConfig) *cobra.Command {
	var f rebalanceFlags
	cmd := &cobra.Command{
		Use:         "remove-node NAME",
		Annotations: map[string]string{needsConsul: "yes"},
		Short:       "Move a node's keys to the other nodes, then remove it",
		Long: `remove-node shrinks the cluster by one node, rebalancing on the client side:
it takes the rebalance lock, records the migration in Consul (producers then
write to the old and the new owners), copies every partition the node holds
to the nodes that hold it next, verifies the copies, switches the layout
(epoch + 1), and only then writes the remove signal
(zshard/nodes/NAME {"state":"removed"}): its supervisor stops the node.

If it is interrupted, run the same command again to finish.

A node that is down is skipped, never replaced: its keys stay its own, reads
of them fall back to its other replicas and writes need their quorum. When a
node is gone for good (its disk lost, its host retired), declare it so with
--dead: its partitions are copied from their other replicas instead of from
it, and the partitions it alone held (every one of them at R=0) are lost and
counted in the report. --dead is refused for a node that passes its health
check, and a down node is not removed without it.`,
		Example: `  client_producer remove-node node-0
  client_producer remove-node node-0 --dry-run
  client_producer remove-node node-2 --dead`,
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
	cmd.Flags().BoolVar(&f.Dead, "dead", false, "the node is down for good: copy its partitions from their other replicas (those it alone held are lost)")
	return cmd
}
