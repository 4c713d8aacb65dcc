package main

import (
	"path/filepath"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/curve"
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

// TestCurveNodeKeys: with --curve-node-keys a node uses its own key when
// the directory has one, else the shared --curve-secret-file.
func TestCurveNodeKeys(t *testing.T) {
	if err := curve.Available(); err != nil {
		t.Skip(err)
	}
	dir, nodeKeys := t.TempDir(), t.TempDir()
	shared, err := curve.Generate()
	require.NoError(t, err)
	_, _, err = curve.WriteKeypair(filepath.Join(dir, "shared"), shared)
	require.NoError(t, err)
	own, err := curve.Generate()
	require.NoError(t, err)
	_, _, err = curve.WriteKeypair(filepath.Join(nodeKeys, "node-1"), own)
	require.NoError(t, err)
	f := curveFlags{secretFile: filepath.Join(dir, "shared.secret"), clients: dir, nodeKeys: nodeKeys}
	for name, want := range map[string]curve.Keypair{"node-0": shared, "node-1": own} {
		sc, cc, err := f.server(name)
		require.NoError(t, err)
		require.Equal(t, want, sc.Key, name)
		require.Nil(t, cc, "no --curve-client-secret-file: the node's own key")
	}
	sc, cc, err := (&curveFlags{}).server("node-0")
	require.NoError(t, err)
	require.Nil(t, sc)
	require.Nil(t, cc)
}
