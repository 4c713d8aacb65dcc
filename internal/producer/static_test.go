package producer

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/layout"
)

// TestStatic routes to nodes that are not registered anywhere: the
// producer places keys over the static members with its own settings.
func TestStatic(t *testing.T) {
	nodes := make([]*node.Node, 3)
	members := make([]consul.Member, len(nodes))
	for i := range nodes {
		n, err := node.New(node.Config{Name: fmt.Sprintf("node-%d", i)})
		require.NoError(t, err)
		require.NoError(t, n.Start())
		t.Cleanup(func() { _ = n.Close() })
		nodes[i] = n
		members[len(nodes)-1-i] = consul.Member{Name: n.Name(), RepURL: n.RequestEndpoint(), PullURL: n.IngestEndpoint()}
	}
	ctx := context.Background()
	p, err := New(ctx, Config{Static: members, Settings: layout.Settings{Replicas: 1},
		Consul: consul.Config{Addr: "127.0.0.1:1"}}) // never dialled
	require.NoError(t, err)
	defer p.Close()
	require.True(t, p.Static())
	require.False(t, p.SettingsStored())
	require.Equal(t, []string{"node-0", "node-1", "node-2"}, memberNames(p.Members()))
	require.Equal(t, 1, p.Settings().Replicas)

	const keys = 200
	for i := range keys {
		require.NoError(t, p.Put(ctx, fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("%q", fmt.Sprint(i)))))
	}
	for i := range keys {
		v, err := p.Get(ctx, fmt.Sprintf("k%d", i))
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%q", fmt.Sprint(i)), string(v))
	}
	all, err := p.GetAll(ctx)
	require.NoError(t, err)
	require.Len(t, all, keys)
	stored := int64(0)
	for _, n := range nodes {
		stored += n.Stats().Keys
	}
	require.EqualValues(t, 2*keys, stored, "R=1 keeps two copies of every key")
	st, err := p.Status(ctx)
	require.NoError(t, err)
	for _, ns := range st.Nodes {
		require.True(t, ns.Healthy, ns.Name)
	}
}

func TestStaticValidate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		members []consul.Member
		want    string
	}{
		{"no name", []consul.Member{{RepURL: "tcp://a:1", PullURL: "tcp://a:2"}}, "has no name"},
		{"twice", []consul.Member{{Name: "a", RepURL: "tcp://a:1", PullURL: "tcp://a:2"}, {Name: "a", RepURL: "tcp://a:3", PullURL: "tcp://a:4"}}, `"a" appears twice`},
		{"endpoints", []consul.Member{{Name: "a", RepURL: "tcp://a:1"}}, "needs a request and an ingest endpoint"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorContains(t, Config{Static: tt.members}.Validate(), tt.want)
		})
	}
}

func TestStaticMembers(t *testing.T) {
	m := StaticMembers(2, "10.0.0.1", 3000, 3100)
	require.Equal(t, []consul.Member{
		{Name: "node-0", RepURL: "tcp://10.0.0.1:3000", PullURL: "tcp://10.0.0.1:3100", Address: "10.0.0.1", Port: 3000, Ready: true},
		{Name: "node-1", RepURL: "tcp://10.0.0.1:3001", PullURL: "tcp://10.0.0.1:3101", Address: "10.0.0.1", Port: 3001, Ready: true},
	}, m)
	require.Equal(t, "tcp://[::1]:2000", StaticMembers(1, "::1", 2000, 2100)[0].RepURL)
}

func memberNames(ms []consul.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}
