package sharding

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden pins every function placement depends on. If this test fails after
// a dependency upgrade or a code change, the change would re-shard every
// existing cluster: do not -update unless that is the intent.
type golden struct {
	KeyHash       map[string]string   `json:"key_hash"`
	PartitionHash map[string]string   `json:"partition_hash"`
	PartitionOf   map[string]int      `json:"partition_of"`
	RingPoints    []string            `json:"ring_points_node_0"`
	HRWMix        []string            `json:"hrw_mix_node_0"`
	Owners        map[string][]string `json:"owners"`
	TableDigest   map[string]string   `json:"table_digest"`
}

func hex(x uint64) string { return fmt.Sprintf("%016x", x) }

func computeGolden(t *testing.T) golden {
	g := golden{
		KeyHash:       map[string]string{},
		PartitionHash: map[string]string{},
		PartitionOf:   map[string]int{},
		Owners:        map[string][]string{},
		TableDigest:   map[string]string{},
	}
	for _, k := range []string{"", "a", "key-0", "key-1", "user:42", "ключ", "a longer key that spans more than thirty-two bytes of input"} {
		g.KeyHash[k] = hex(KeyHash(k))
	}
	for _, p := range []int{0, 1, 2, 4095, 262143, 1 << 23} {
		g.PartitionHash[fmt.Sprint(p)] = hex(PartitionHash(p))
	}
	for _, h := range []uint64{0, 1, 1 << 63, ^uint64(0), 0x0123456789abcdef} {
		for _, p := range []int{1, 7, 4096, DefaultPartitions} {
			g.PartitionOf[fmt.Sprintf("%s/%d", hex(h), p)] = PartitionOf(h, p)
		}
	}
	var buf []byte
	for i := range 4 {
		var h uint64
		buf, h = pointHash(buf, "node-0", i)
		g.RingPoints = append(g.RingPoints, hex(h))
		g.HRWMix = append(g.HRWMix, hex(fmix64(KeyHash(fmt.Sprintf("key-%d", i))^nodeHash("node-0"))))
	}
	nodes := NodesNamed(nodeNames(10)...)
	weighted := NodesNamed(nodeNames(10)...)
	weighted[3].Weight = 2.5
	for _, alg := range Algorithms() {
		for label, ns := range map[string][]Node{"uniform": nodes, "weighted": weighted} {
			cfg := Config{Algorithm: alg, Replicas: 2}
			pl, err := NewPlacer(cfg, ns)
			require.NoError(t, err)
			var owners []string
			for i := range 16 {
				owners = append(owners, ns[pl.Owner(KeyHash(fmt.Sprintf("key-%d", i)))].Name)
			}
			g.Owners[alg+"/"+label] = owners
			tb, err := NewTable(cfg, ns)
			require.NoError(t, err)
			d := xxhash.New()
			for p := range tb.Partitions() {
				for _, n := range tb.AppendPartitionPrefs(nil, p) {
					_, _ = d.WriteString(n)
					_, _ = d.Write([]byte{0})
				}
			}
			g.TableDigest[alg+"/"+label] = hex(d.Sum64())
		}
	}
	return g
}

func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", "placement.golden.json")
	got := computeGolden(t)
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run TestGolden -update once to create it")
	var want golden
	require.NoError(t, json.Unmarshal(b, &want))
	require.Equal(t, want, got, "placement changed: this would re-shard existing clusters")
}
