package shardingtest_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/sharding"
	"github.com/zshard/zshard/sharding/shardingtest"
)

// modulo places a hash on node h mod n: balanced, but adding or removing a
// node moves almost every key.
type modulo struct{ nodes []sharding.Node }

func newModulo(nodes []sharding.Node) (sharding.Placer, error) {
	nodes, err := sharding.Normalize(nodes)
	return &modulo{nodes: nodes}, err
}

func (m *modulo) Nodes() []sharding.Node { return m.nodes }
func (m *modulo) Owner(h uint64) int     { return int(h % uint64(len(m.nodes))) }
func (m *modulo) AppendPrefs(dst []int, h uint64, n int) []int {
	for i := range min(n, len(m.nodes)) {
		dst = append(dst, (m.Owner(h)+i)%len(m.nodes))
	}
	return dst
}

// TestModuloFails grades modulo placement: it keeps its preference lists
// distinct and its load balanced, and fails add and remove with the keys it
// moves counted.
func TestModuloFails(t *testing.T) {
	err := shardingtest.Check(newModulo)
	require.Error(t, err)
	msg := err.Error()
	t.Log(msg)
	require.Contains(t, msg, "add: adding aaa moved 90,")
	require.Contains(t, msg, "of 100,000 keys; optimum 9,090 (tolerance 10,908)")
	require.Contains(t, msg, "remove: removing node-0 moved ")
	require.Contains(t, msg, "keys between surviving nodes; want at most 0")
	for _, p := range []string{"membership:", "prefs:", "order:", "balance:"} {
		require.NotContains(t, msg, p, "modulo has this property")
	}
	require.Len(t, strings.Split(msg, "\n"), 2, "add and remove fail, nothing else")
}

// TestRunFailsModulo runs the suite as a test of modulo placement does, in
// a child process of this test binary (a failing subtest would fail this
// test), and checks that the child fails add and remove, with the keys
// moved, and passes the rest.
func TestRunFailsModulo(t *testing.T) {
	if os.Getenv(envModulo) == "1" {
		shardingtest.Run(t, newModulo)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRunFailsModulo$", "-test.v")
	cmd.Env = append(os.Environ(), envModulo+"=1")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "the suite passed modulo placement:\n%s", out)
	for _, want := range []string{
		"--- FAIL: TestRunFailsModulo/add", "adding aaa moved 90,",
		"--- FAIL: TestRunFailsModulo/remove", "keys between surviving nodes",
		"--- PASS: TestRunFailsModulo/prefs", "--- PASS: TestRunFailsModulo/balance",
		"--- SKIP: TestRunFailsModulo/weights",
	} {
		require.Contains(t, string(out), want)
	}
}

// envModulo makes TestRunFailsModulo run the suite itself.
const envModulo = "SHARDINGTEST_RUN_MODULO"

// Check is the suite's verdict for a tool: nil for the ring.
func TestCheckPasses(t *testing.T) {
	require.NoError(t, shardingtest.Check(func(nodes []sharding.Node) (sharding.Placer, error) {
		return sharding.NewRing(nodes, sharding.DefaultVNodes)
	}, shardingtest.Weighted()))
}
