package main

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
)

func newPutCmd(g *globalConfig) *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Store VALUE under KEY on its R+1 replicas, acknowledged",
		Long: `put stores VALUE under KEY on every node of the key's preference list (R+1
nodes with R replicas) over their request endpoints, and returns once all of
them acknowledged. VALUE is a string; with --value-json it is parsed as one
JSON value (number, object, array, ...) and stored as such.`,
		Example: `  client_producer put user:1 alice
  client_producer put user:2 '{"name":"bob","age":7}' --value-json
  client_producer --codec msgpack --json put k v`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := args[0]
			value, err := encodeArg(g.codec(), args[1], raw)
			if err != nil {
				return err
			}
			return withProducer(cmd, g, func(p *producer.Producer, out io.Writer) error {
				if err := p.Put(cmd.Context(), key, value); err != nil {
					return err
				}
				if g.JSON {
					return printJSON(out, map[string]any{"status": "OK", "key": key, "replicas": p.Replicas(key)})
				}
				fmt.Fprintf(out, "OK  %s -> %v\n", key, p.Replicas(key))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&raw, "value-json", false, "parse VALUE as a JSON value instead of taking it as a string")
	return cmd
}

// encodeArg encodes a command-line value in codec c: a string, or with
// asJSON the JSON value it spells.
func encodeArg(c protocol.Codec, arg string, asJSON bool) ([]byte, error) {
	if !asJSON {
		return producer.EncodeValue(c, arg)
	}
	if !json.Valid([]byte(arg)) {
		return nil, fmt.Errorf("VALUE %q is not valid JSON (drop --value-json to store it as a string)", arg)
	}
	return protocol.ConvertValue([]byte(arg), protocol.JSON, c)
}
