package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/compare"
)

func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestCompareJSON(t *testing.T) {
	dir := t.TempDir()
	out, err := execute(t, "compare", "--json", "--nodes", "3,6", "--keys", "3000", "--trials", "1",
		"--partitions", "256", "--benchtime", "1ms", "-R", "1", "--plots", dir, "--format", "svg")
	require.NoError(t, err)
	var res compare.Result
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Len(t, res.Rows, 2*2*2)
	require.Equal(t, 1, res.Config.Replicas)
	for _, r := range res.Rows {
		require.Zero(t, r.SurvivorMoves)
		require.Positive(t, r.PrefsNs)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.svg"))
	require.NoError(t, err)
	require.Len(t, files, 2*3)
}

func TestCompareText(t *testing.T) {
	out, err := execute(t, "compare", "-q", "--nodes", "4", "--keys", "1000", "--trials", "1",
		"--partitions", "64", "--benchtime", "1ms", "--algorithms", "hrw", "--modes", "table")
	require.NoError(t, err)
	require.Contains(t, out, "hrw")
	require.NotContains(t, out, "consistent")
	require.Contains(t, out, "peak/mean")
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown hash", []string{"--hash", "modulo", "compare"}},
		{"bad codec", []string{"--codec", "xml", "compare"}},
		{"bad mode", []string{"compare", "--modes", "both"}},
		{"bad format", []string{"compare", "--keys", "10", "--nodes", "2", "--plots", filepath.Join(os.TempDir(), "never"), "--format", "gif"}},
		{"extra arg", []string{"compare", "now"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := execute(t, tt.args...)
			require.Error(t, err)
		})
	}
}

func TestHelp(t *testing.T) {
	out, err := execute(t, "--help")
	require.NoError(t, err)
	for _, flag := range []string{"--consul", "--hash", "--replicas", "--codec", "--json", "compare"} {
		require.Contains(t, out, flag)
	}
	out, err = execute(t, "compare", "--help")
	require.NoError(t, err)
	require.Contains(t, out, "survivor moves")
}

func TestDefaultConsul(t *testing.T) {
	t.Setenv("CONSUL_HTTP_ADDR", "")
	require.Equal(t, "127.0.0.1:8500", defaultConsul())
	t.Setenv("CONSUL_HTTP_ADDR", "10.0.0.1:8501")
	require.Equal(t, "10.0.0.1:8501", defaultConsul())
}
