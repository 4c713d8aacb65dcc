//go:build e2e

package e2e

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"
)

// uuidRE finds a Consul token in command output.
var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// TestDockerSecure brings up the secure variant (docker-compose.secure.yml):
// CURVE keys and Consul tokens made in a volume by one-shot services, nodes
// that are CURVE servers, Consul with ACLs on and default deny. It checks
// that the published Consul API tells an anonymous caller nothing, that the
// nodes register with the node token and their CURVE key, that a plaintext
// client gets no reply, that the producer (token and key) reads and writes
// data but may neither store the settings nor rebalance, and that the
// operator may.
func TestDockerSecure(t *testing.T) {
	c := newCluster(t, "docker-compose.secure.yml")
	anon := c.up()

	// Anonymous: the settings are refused, the instances hidden.
	_, _, err := anon.KV().Get("zshard/cluster", nil)
	require.ErrorContains(t, err, "Permission denied")

	// The operator token, read from the secrets volume as the operator
	// container sees it.
	out := c.compose(2*time.Minute, "run", "--rm", "--no-deps", "--entrypoint", "cat", "operator", "/secrets/tokens/operator.token")
	token := uuidRE.FindString(out)
	require.NotEmpty(t, token, "no token in:\n%s", out)
	cfg := api.DefaultConfig()
	cfg.Address, cfg.Token = c.consulAddr(), token
	cc, err := api.NewClient(cfg)
	require.NoError(t, err)
	waitFor(t, "passing: "+strings.Join(nodes, " "), func() (bool, string) {
		in := instances(t, cc)
		return slices.Equal(passing(in), nodes), describe(in)
	})
	entries, _, err := anon.Health().Service("zshard", "", true, nil)
	require.NoError(t, err)
	require.Empty(t, entries, "an anonymous caller sees instances")

	// Every node registered the server key, and answers no plaintext client.
	pub := lastLine(c.compose(2*time.Minute, "run", "--rm", "--no-deps", "--entrypoint", "cat", "operator", "/secrets/curve/server.pub"))
	require.Len(t, pub, 40, "a Z85 public key")
	entries, _, err = cc.Health().Service("zshard", "", true, nil)
	require.NoError(t, err)
	require.Len(t, entries, len(nodes))
	for _, e := range entries {
		require.Equal(t, pub, e.Service.Meta["curve"], e.Service.ID)
		_, err := request(e.Service.Meta["rep"], map[string]any{"op": "PING"}, opTimeout)
		require.Error(t, err, "%s answered a plaintext client", e.Service.ID)
	}

	// The producer token may not store a new cluster's settings...
	out, err = c.tryCompose(2*time.Minute, "run", "--rm", "--no-deps", "producer", "-R", "1", "put", "hello", "world")
	require.Error(t, err, out)
	require.Contains(t, out, `lacks key:write on "zshard/cluster"`)
	// ... the operator's may; then the producer reads and writes.
	c.compose(2*time.Minute, "run", "--rm", "--no-deps", "operator", "-R", "1", "put", "hello", "world")
	c.compose(2*time.Minute, "run", "--rm", "--no-deps", "producer", "put", "bye", "now")
	out = c.compose(2*time.Minute, "run", "--rm", "--no-deps", "producer", "get", "hello")
	require.Contains(t, out, "world")

	// Rebalancing is the operator's: the producer is refused, exit 4.
	out, err = c.tryCompose(2*time.Minute, "run", "--rm", "--no-deps", "producer", "remove-node", "node-3")
	require.Error(t, err, out)
	require.Contains(t, out, "lacks session:write")
	c.compose(rebalanceTimeout, "run", "--rm", "--no-deps", "operator", "remove-node", "node-3", "--quiet")
	want := []string{"node-0", "node-1", "node-2"}
	waitFor(t, "passing: "+strings.Join(want, " "), func() (bool, string) {
		in := instances(t, cc)
		return slices.Equal(passing(in), want), describe(in)
	})
	for _, k := range []string{"hello", "bye"} {
		out = c.compose(2*time.Minute, "run", "--rm", "--no-deps", "producer", "get", k)
		require.Contains(t, out, map[string]string{"hello": "world", "bye": "now"}[k])
	}
}

// lastLine returns the last non-empty line of out, trimmed: what a command
// run with compose printed after compose's own messages.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
