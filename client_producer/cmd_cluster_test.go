package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// run2 executes the CLI and returns stdout and stderr.
func run2(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// startNodes starts n in-process nodes registered in Consul at addr.
func startNodes(t *testing.T, addr string, n int) {
	t.Helper()
	cc, err := consul.New(consul.Config{Addr: addr})
	require.NoError(t, err)
	for i := range n {
		nd, err := node.New(node.Config{Name: fmt.Sprintf("node-%d", i), PollInterval: 10 * time.Millisecond})
		require.NoError(t, err)
		require.NoError(t, nd.Start())
		ctx, cancel := context.WithCancel(context.Background())
		reg, err := cc.Register(ctx, consul.Registration{Name: nd.Name(), RepURL: nd.RequestEndpoint(), PullURL: nd.IngestEndpoint()})
		require.NoError(t, err)
		done := make(chan struct{})
		go func() { defer close(done); reg.Run(ctx, func() error { return nil }) }()
		t.Cleanup(func() {
			cancel()
			<-done
			_ = reg.Deregister(context.Background())
			require.NoError(t, nd.Close())
		})
	}
	require.Eventually(t, func() bool {
		ms, err := cc.Members(context.Background())
		return err == nil && len(ms) == n
	}, 30*time.Second, 20*time.Millisecond)
}

// TestClusterCommands runs put, get, getall, delete and status against a real
// Consul agent and three nodes, for both algorithms and both codecs.
func TestClusterCommands(t *testing.T) {
	c := testcluster.StartConsul(t)
	startNodes(t, c.Addr, 3)
	for _, alg := range []string{sharding.Consistent, sharding.Rendezvous} {
		for _, codec := range []string{"json", "msgpack"} {
			t.Run(alg+"/"+codec, func(t *testing.T) {
				// A new cluster layout: the first command stores its flags.
				_, err := c.Client.KV().Delete("zshard/cluster", nil)
				require.NoError(t, err)
				g := []string{"--consul", c.Addr, "--hash", alg, "-R", "1", "--codec", codec}
				pre := alg + codec + ":"

				// Reading commands do not fix the layout of an empty cluster.
				out, _, err := run2(t, append(g, "--json", "status")...)
				require.NoError(t, err)
				require.Contains(t, out, `"settings_stored":false`)
				_, _, err = run2(t, append(g, "get", pre+"a")...)
				require.ErrorIs(t, err, producer.ErrNotFound)
				kv, _, err := c.Client.KV().Get("zshard/cluster", nil)
				require.NoError(t, err)
				require.Nil(t, kv, "a read-only command stored the settings")

				out, _, err = run2(t, append(g, "--json", "put", pre+"a", "hello world")...)
				require.NoError(t, err)
				var put struct {
					Status   string
					Replicas []string
				}
				require.NoError(t, json.Unmarshal([]byte(out), &put))
				require.Equal(t, "OK", put.Status)
				require.Len(t, put.Replicas, 2)
				_, _, err = run2(t, append(g, "put", "--value-json", pre+"b", `{"n":[1,2.5,"x"]}`)...)
				require.NoError(t, err)
				_, _, err = run2(t, append(g, "put", "--value-json", pre+"c", `{bad`)...)
				require.ErrorContains(t, err, "not valid JSON")

				out, _, err = run2(t, append(g, "get", pre+"a")...)
				require.NoError(t, err)
				require.Equal(t, "hello world\n", out)
				out, _, err = run2(t, append(g, "--json", "get", pre+"b")...)
				require.NoError(t, err)
				require.JSONEq(t, fmt.Sprintf(`{"status":"OK","key":%q,"value":{"n":[1,2.5,"x"]}}`, pre+"b"), out)

				out, _, err = run2(t, append(g, "--json", "getall")...)
				require.NoError(t, err)
				var all struct {
					Status     string
					Collection []struct {
						Key   string
						Value json.RawMessage
					}
				}
				require.NoError(t, json.Unmarshal([]byte(out), &all))
				var mine []string
				for _, e := range all.Collection {
					if strings.HasPrefix(e.Key, pre) {
						mine = append(mine, e.Key+"="+string(e.Value))
					}
				}
				require.Equal(t, []string{pre + `a="hello world"`, pre + `b={"n":[1,2.5,"x"]}`}, mine)
				out, _, err = run2(t, append(g, "getall", "-q")...)
				require.NoError(t, err)
				require.Contains(t, out, pre+"a\thello world\n")

				out, _, err = run2(t, append(g, "--json", "delete", pre+"a")...)
				require.NoError(t, err)
				require.JSONEq(t, fmt.Sprintf(`{"status":"OK","key":%q,"deleted":true}`, pre+"a"), out)
				out, _, err = run2(t, append(g, "delete", pre+"a")...)
				require.NoError(t, err)
				require.Contains(t, out, "nothing deleted")
				_, _, err = run2(t, append(g, "get", pre+"a")...)
				require.ErrorIs(t, err, producer.ErrNotFound)

				out, _, err = run2(t, append(g, "--json", "status")...)
				require.NoError(t, err)
				var st struct {
					Settings layout.Settings
					Nodes    []producer.NodeStatus
				}
				require.NoError(t, json.Unmarshal([]byte(out), &st))
				require.Equal(t, alg, st.Settings.Algorithm)
				require.Equal(t, 1, st.Settings.Replicas)
				require.Len(t, st.Nodes, 3)
				for _, n := range st.Nodes {
					require.True(t, n.Healthy, n.Error)
				}
				out, _, err = run2(t, append(g, "status")...)
				require.NoError(t, err)
				require.Contains(t, out, "algorithm "+alg)
				require.Contains(t, out, "node-2")

				// Flags that disagree with the stored settings: warned, stored ones used.
				other := sharding.Rendezvous
				if alg == other {
					other = sharding.Consistent
				}
				out, errOut, err := run2(t, "--consul", c.Addr, "--hash", other, "--json", "status")
				require.NoError(t, err)
				require.Contains(t, errOut, "warning: the cluster's stored settings win")
				require.NoError(t, json.Unmarshal([]byte(out), &st))
				require.Equal(t, alg, st.Settings.Algorithm)
			})
		}
	}
}
