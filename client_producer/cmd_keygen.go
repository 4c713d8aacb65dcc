package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/zshard/zshard/internal/curve"
)

func newKeygenCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "keygen PREFIX",
		Short: "Write a new CURVE keypair: PREFIX.pub and PREFIX.secret",
		Long: `keygen writes a new CURVE keypair for a node or a client (docs/SECURITY.md):
PREFIX.pub holds the public key and PREFIX.secret the secret key (file mode
0600), each as one line of Z85 text (40 characters), the form pyzmq and
libzmq read. It never overwrites a file. Give a node its .secret with
server_consumer --curve-secret-file, and put a client's .pub in the node's
--curve-clients (or --curve-admins) directory.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kp, err := curve.Generate()
			if err != nil {
				return err
			}
			pub, sec, err := curve.WriteKeypair(args[0], kp)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "public key %s written to %s\nsecret key written to %s (mode 0600)\n", kp.Public, pub, sec)
			return nil
		},
	}
}
