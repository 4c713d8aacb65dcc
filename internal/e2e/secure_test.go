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
// Consul with ACLs on and default deny, a token per program made by the
// one-shot services. It checks that the published Consul API tells an
// anonymous caller nothing, that the nodes register with the node token,
// that the producer token reads and writes data but may neither store the
// settings nor rebalance, and that the operator token may.
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
	entries, meta, err := anon.Health().Service("zshard", "", true, nil)
	require.NoError(t, err)
	require.Empty(t, entries, "an anonymous caller sees instances")
	require.True(t, meta.ResultsFilteredByACLs)

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
