package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/producer"
)

func newDeleteCmd(g *globalConfig) *cobra.Command {
	return &cobra.Command{
		Use:   "delete KEY",
		Short: "Delete KEY from its R+1 replicas, acknowledged",
		Long: `delete removes KEY from every node of its preference list and returns once
all of them acknowledged. Deleting a missing key is not an error; the output
says whether any replica held it.`,
		Example: `  client_producer delete user:1
  client_producer --json delete user:1`,
		Args: cobra.ExactArgs(1),
		RunE: runWithProducer(g, func(cmd *cobra.Command, args []string, p *producer.Producer, out io.Writer) error {
			key := args[0]
			existed, err := p.Delete(cmd.Context(), key)
			if err != nil {
				return err
			}
			if g.JSON {
				return printJSON(out, map[string]any{"status": "OK", "key": key, "deleted": existed})
			}
			if existed {
				fmt.Fprintf(out, "deleted %s\n", key)
			} else {
				fmt.Fprintf(out, "%s was not stored (nothing deleted)\n", key)
			}
			return nil
		}),
	}
}
