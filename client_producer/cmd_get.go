package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/producer"
)

func newGetCmd(g *globalConfig) *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY",
		Short: "Print the value of KEY, falling back along its replicas",
		Long: `get asks the key's owner for its value and, when the owner is down or does
not hold it, the next replicas of its preference list. A string value is
printed as is, any other value as JSON. A missing key exits with status 1.`,
		Example: `  client_producer get user:1
  client_producer --json get user:1`,
		Args: cobra.ExactArgs(1),
		RunE: runWithProducer(g, func(cmd *cobra.Command, args []string, p *producer.Producer, out io.Writer) error {
			key := args[0]
			v, err := p.Get(cmd.Context(), key)
			if err != nil {
				return err
			}
			if g.JSON {
				j, err := producer.ValueJSON(p.Codec(), v)
				if err != nil {
					return err
				}
				return printJSON(out, map[string]any{"status": "OK", "key": key, "value": json.RawMessage(j)})
			}
			fmt.Fprintln(out, displayValue(p.Codec(), v))
			return nil
		}, readOnly),
	}
}
