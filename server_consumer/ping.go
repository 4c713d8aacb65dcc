package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/reqclient"
)

// newPingCmd is `server_consumer ping`: one PING to a node's request
// endpoint, for probes (a Kubernetes readiness probe, a container health
// check) and for people.
func newPingCmd(stdout io.Writer) *cobra.Command {
	var timeout time.Duration
	var want string
	cmd := &cobra.Command{
		Use:   "ping [ENDPOINT]",
		Short: "send PING to a node and exit 0 if it answers (a probe)",
		Long: `ping sends one PING request to the request endpoint of a node (default
tcp://127.0.0.1:2000, node-0's) and prints the name of the node that
answered. It exits 0 when the node answers OK within --timeout, 1 when it
does not (or, with --name, when another node answers), 2 on a usage error.`,
		Example: `  server_consumer ping
  server_consumer ping tcp://10.0.1.7:2003 --name node-3`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			endpoint := fmt.Sprintf("tcp://127.0.0.1:%d", BaseRequestPort)
			if len(args) == 1 {
				endpoint = args[0]
			}
			if timeout <= 0 {
				return usageError{fmt.Errorf("--timeout %v: want a positive duration", timeout)}
			}
			name, err := pingNode(cmd.Context(), endpoint, timeout)
			if err != nil {
				return err
			}
			if want != "" && name != want {
				return fmt.Errorf("ping %s: node %q answered, want %q", endpoint, name, want)
			}
			fmt.Fprintf(stdout, "OK %s %s\n", name, endpoint)
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Second, "how long to wait for the reply")
	cmd.Flags().StringVar(&want, "name", "", "fail unless the node answering is this one")
	return cmd
}

// pingNode sends PING to endpoint and returns the name of the node answering.
func pingNode(ctx context.Context, endpoint string, timeout time.Duration) (string, error) {
	c := reqclient.New(endpoint, timeout)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rep, err := c.Call(ctx, &protocol.Request{Op: protocol.OpPing})
	if err != nil {
		return "", fmt.Errorf("ping: %w", err)
	}
	return rep.Node, nil
}
