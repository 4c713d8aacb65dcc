package main

import (
	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/rebalance"
)

func newAddNodeCmd(g *globalConfig) *cobra.Command {
	var f rebalanceFlags
	var host string
	cmd := &cobra.Command{
		Use:         "add-node NAME",
		Annotations: map[string]string{needsConsul: "yes"},
		Short:       "Add a node and move to it exactly the keys it now holds",
		Long: `add-node grows the cluster by one node, rebalancing on the client side:

  1. takes the rebalance lock in Consul (one rebalancer at a time; --wait waits);
  2. records the migration in the cluster settings (zshard/cluster) by CAS;
     from then on every producer writes to the old and the new owners;
  3. writes the add signal (zshard/nodes/NAME {"state":"up"}); a supervisor
     (server_consumer) launches the node; waits until it passes;
  4. copies exactly the partitions the node gains (the placement diff), from a
     node that holds them now, with acknowledged batches and a bounded window;
  5. verifies every copied partition against its source and repairs it;
  6. switches the layout (epoch + 1), then deletes at the sources what they no
     longer hold, and clears the migration.

If it is interrupted (Ctrl-C, kill -9), run the same command again: it resumes
from the recorded phase without losing a key. status shows an unfinished one.`,
		Example: `  client_producer add-node node-4
  client_producer add-node node-4 --host lab-host
  client_producer add-node node-4 --dry-run`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := rebalance.Add(cmd.Context(), f.config(cmd, g), args[0], host)
			if err != nil {
				return err
			}
			return printReport(cmd.OutOrStdout(), g, rep, f.DryRun)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&host, "host", "", "launch the node on the supervisor started with --host H (default: any supervisor)")
	return cmd
}
