package compare

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/sharding"
	"github.com/zshard/zshard/sharding/examples/maglev"
)

func smallConfig() Config {
	return Config{Nodes: []int{5, 20}, Keys: 50_000, Trials: 2, Partitions: 4096, BenchTime: time.Millisecond,
		Algorithms: []string{sharding.Consistent, sharding.Rendezvous}}
}

func TestRun(t *testing.T) {
	c := smallConfig()
	steps := 0
	res, err := Run(c, func() { steps++ })
	require.NoError(t, err)
	require.Equal(t, c.Steps(), steps)
	require.Len(t, res.Rows, 2*2*2)
	for _, r := range res.Rows {
		total := 0
		for _, l := range r.Loads {
			total += l
		}
		require.Equal(t, c.Keys, total, "%s/%s/%d", r.Algorithm, r.Mode, r.Nodes)
		require.Zero(t, r.SurvivorMoves, "%s/%s/%d", r.Algorithm, r.Mode, r.Nodes)
		require.Zero(t, r.LookupAllocs)
		require.GreaterOrEqual(t, r.PeakMean, 1.0)
		require.LessOrEqual(t, r.MinMean, 1.0)
		require.InDelta(t, 1, r.AddMoved, 0.5)
		require.InDelta(t, 1, r.RemoveMoved, 0.5)
		require.Positive(t, r.LookupNs)
	}

	var text bytes.Buffer
	require.NoError(t, WriteText(&text, res))
	require.Contains(t, text.String(), "consistent")
	require.Contains(t, text.String(), "survivor moves")

	var js bytes.Buffer
	require.NoError(t, WriteJSON(&js, res))
	var back Result
	require.NoError(t, json.Unmarshal(js.Bytes(), &back))
	require.Equal(t, res.Rows, back.Rows)

	for _, format := range []string{"png", "svg"} {
		dir := t.TempDir()
		files, err := WritePlots(res, dir, format)
		require.NoError(t, err)
		require.Len(t, files, 2*(2+1))
		for _, f := range files {
			st, err := os.Stat(f)
			require.NoError(t, err)
			require.Positive(t, st.Size())
			require.True(t, strings.HasSuffix(f, "."+format))
			require.Equal(t, dir, filepath.Dir(f))
		}
	}
	_, err = WritePlots(res, t.TempDir(), "gif")
	require.ErrorIs(t, err, ErrBadConfig)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		c    Config
	}{
		{"zero nodes", Config{Nodes: []int{0}}},
		{"negative keys", Config{Keys: -1}},
		{"mode", Config{Modes: []string{"both"}}},
		{"algorithm", Config{Algorithms: []string{"modulo"}}},
		{"partitions", Config{Partitions: -3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, tt.c.Validate())
		})
	}
	require.NoError(t, Config{}.Validate())
}

// TestRegistered compares an algorithm registered with sharding.Register
// (the Maglev example, imported above) beside a built-in: compare measures
// the keys it moves between surviving nodes.
func TestRegistered(t *testing.T) {
	require.Contains(t, sharding.Algorithms(), maglev.Name)
	c := smallConfig()
	c.Algorithms = []string{sharding.Rendezvous, maglev.Name}
	res, err := Run(c, nil)
	require.NoError(t, err)
	require.Len(t, res.Rows, 2*2*2)
	for _, r := range res.Rows {
		if r.Algorithm == maglev.Name {
			require.Positive(t, r.SurvivorMoves, "%s/%d", r.Mode, r.Nodes)
		} else {
			require.Zero(t, r.SurvivorMoves, "%s/%d", r.Mode, r.Nodes)
		}
		require.Less(t, r.PeakMean, 1.2, "%s/%s/%d", r.Algorithm, r.Mode, r.Nodes)
	}
	var out bytes.Buffer
	require.NoError(t, WriteText(&out, res))
	require.Contains(t, out.String(), "\nmaglev\n")
}
