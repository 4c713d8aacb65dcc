package main

import (
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
)

// The supervisor starts each node process with nodeFlags.args(): every node
// flag given to server_consumer N or --static N must reach the nodes with
// its value (--data-dir excepted: the supervisor gives each node its own).
func TestNodeFlagsReachChildProcesses(t *testing.T) {
	parse := func(args ...string) (nodeFlags, *cobra.Command) {
		t.Helper()
		var f nodeFlags
		cmd := &cobra.Command{Run: func(*cobra.Command, []string) {}}
		f.register(cmd, false)
		cmd.SetArgs(args)
		require.NoError(t, cmd.Execute())
		return f, cmd
	}
	_, cmd := parse()
	values := map[string]string{"string": "x", "int": "7", "duration": "3s"}
	var given []string
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		if fl.Name == "data-dir" || fl.Name == "help" {
			return
		}
		v, ok := values[fl.Value.Type()]
		require.True(t, ok, "flag --%s of type %s: give it a test value", fl.Name, fl.Value.Type())
		given = append(given, "--"+fl.Name, v)
	})
	f, _ := parse(given...)
	child, _ := parse(f.args()...)
	require.Equal(t, f, child)
}
