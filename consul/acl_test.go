package consul_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/testcluster"
	"github.com/zshard/zshard/layout"
)

func TestTokenFileErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte("\n"), 0o600))
	for name, tc := range map[string]struct {
		file, want string
	}{
		"missing": {filepath.Join(dir, "nope"), "no such file"},
		"empty":   {empty, "want one token on one line"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := consul.New(consul.Config{TokenFile: tc.file})
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err := consul.New(consul.Config{TLS: consul.TLSConfig{CertFile: empty}})
	require.ErrorContains(t, err, "give both or neither")
	_, err = consul.New(consul.Config{TLS: consul.TLSConfig{CAFile: filepath.Join(dir, "nope.pem")}})
	require.ErrorContains(t, err, "TLS CA certificate")
}

// secureAgent starts an agent with ACLs (default deny) and TLS and returns
// it with a client factory: token "" sends no token.
func secureAgent(t *testing.T) (*testcluster.Consul, func(token string) *consul.Client) {
	t.Helper()
	agent := testcluster.StartConsulWith(t, testcluster.ConsulOptions{ACL: true, TLS: true})
	dir := t.TempDir()
	return agent, func(token string) *consul.Client {
		t.Helper()
		cfg := consul.Config{Addr: agent.Addr, TLS: consul.TLSConfig{
			CAFile: agent.TLS.CAFile, CertFile: agent.TLS.CertFile, KeyFile: agent.TLS.KeyFile}}
		if token != "" {
			cfg.TokenFile = filepath.Join(dir, token[:8])
			require.NoError(t, os.WriteFile(cfg.TokenFile, []byte(token+"\n"), 0o600))
		}
		c, err := consul.New(cfg)
		require.NoError(t, err)
		return c
	}
}

// policy returns the rules of deploy/consul-acl/<name>.hcl.
func policy(t *testing.T, name string) string {
	t.Helper()
	root, err := testcluster.ModuleRoot()
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(root, "deploy", "consul-acl", name+".hcl"))
	require.NoError(t, err)
	return string(data)
}

// requireDenied checks that err is an ACL refusal naming permission.
func requireDenied(t *testing.T, err error, permission, resource string) {
	t.Helper()
	require.ErrorIs(t, err, consul.ErrPermissionDenied)
	var pe *consul.PermissionError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, permission, pe.Permission, "%v", err)
	if resource != "" {
		require.Equal(t, resource, pe.Resource, "%v", err)
	}
	require.Contains(t, err.Error(), permission)
}

func TestACLRefusalsNameThePermission(t *testing.T) {
	ctx := context.Background()
	agent, client := secureAgent(t)

	anon := client("")
	require.NoError(t, anon.Ping(ctx), "the leader is no secret")
	_, _, err := anon.Settings(ctx)
	requireDenied(t, err, "key:read", "zshard/cluster")
	require.Contains(t, err.Error(), "anonymous token")
	require.Contains(t, err.Error(), "CONSUL_HTTP_TOKEN")

	unknown := client("00000000-0000-4000-8000-000000000000")
	_, _, err = unknown.Settings(ctx)
	require.ErrorIs(t, err, consul.ErrPermissionDenied)
	require.Contains(t, err.Error(), "ACL not found")

	// A watch that is refused ends at once with the refusal, instead of
	// retrying for ever.
	done := make(chan error, 1)
	go func() { done <- anon.WatchSettings(ctx, func(layout.Settings, bool) {}) }()
	select {
	case err := <-done:
		requireDenied(t, err, "key:read", "zshard/cluster")
	case <-time.After(30 * time.Second):
		t.Fatal("a refused watch kept retrying")
	}

	// A token that may read the service but not the Consul nodes: the
	// members it cannot see would be a partial view, refused as such.
	require.NoError(t, agent.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{
		ID: "node-0", Name: "zshard", Address: "127.0.0.1", Port: 2000,
		Meta: map[string]string{consul.MetaRep: "tcp://127.0.0.1:2000", consul.MetaPull: "tcp://127.0.0.1:2100"}}))
	serviceOnly := client(agent.CreateToken(t, "service-only", `service "zshard" { policy = "read" }`))
	_, err = serviceOnly.Members(ctx)
	requireDenied(t, err, "service:read and node:read", "zshard")
}

// TestACLPolicies checks that each policy of deploy/consul-acl lets its
// holder do its job through the consul package and no more.
func TestACLPolicies(t *testing.T) {
	ctx := context.Background()
	agent, client := secureAgent(t)
	nodeC := client(agent.CreateToken(t, "zshard-node", policy(t, "node")))
	producerC := client(agent.CreateToken(t, "zshard-producer", policy(t, "producer")))
	operatorC := client(agent.CreateToken(t, "zshard-operator", policy(t, "operator")))

	// The operator stores the settings; the others may not.
	_, _, err := producerC.InitSettings(ctx, layout.Settings{Algorithm: "rendezvous"})
	requireDenied(t, err, "key:write", "zshard/cluster")
	_, _, err = nodeC.InitSettings(ctx, layout.Settings{Algorithm: "rendezvous"})
	requireDenied(t, err, "key:write", "zshard/cluster")
	_, created, err := operatorC.InitSettings(ctx, layout.Settings{Algorithm: "rendezvous"})
	require.NoError(t, err)
	require.True(t, created)

	// A node registers and heartbeats; a producer or an operator may not.
	_, err = producerC.Register(ctx, reg("node-0", 2000))
	requireDenied(t, err, "service:write", "zshard")
	_, err = operatorC.Register(ctx, reg("node-0", 2000))
	requireDenied(t, err, "service:write", "zshard")
	r := mustRegister(t, nodeC, reg("node-0", 2000))
	r.Beat(ctx, nil)

	// Everyone reads the members and the settings.
	for name, c := range map[string]*consul.Client{"node": nodeC, "producer": producerC, "operator": operatorC} {
		eventually(t, name+" sees node-0", func() bool {
			ms, err := c.Members(ctx)
			require.NoError(t, err, name)
			return len(ms) == 1 && ms[0].Name == "node-0"
		})
		s, _, err := c.Settings(ctx)
		require.NoError(t, err, name)
		require.Equal(t, "rendezvous", s.Algorithm)
	}

	// Supervisors write add signals and claims, under their own session.
	ok, err := nodeC.EnsureSignal(ctx, consul.Signal{Name: "node-0", State: consul.NodeUp})
	require.NoError(t, err)
	require.True(t, ok)
	wrote, err := nodeC.EnsureSignals(ctx, []consul.Signal{{Name: "node-2", State: consul.NodeUp}, {Name: "node-3", State: consul.NodeUp}})
	require.NoError(t, err)
	require.Equal(t, []string{"node-2", "node-3"}, wrote)
	// A transaction refused by an ACL is a refusal, not a race to retry.
	_, err = producerC.EnsureSignals(ctx, []consul.Signal{{Name: "node-4", State: consul.NodeUp}})
	requireDenied(t, err, "key:write", "zshard/nodes/node-4")
	sess, err := nodeC.NewSession(ctx, "supervisor", 0)
	require.NoError(t, err)
	ok, err = sess.Claim(ctx, "node-0", "h1")
	require.NoError(t, err)
	require.True(t, ok)
	// ... but neither change the layout nor take the rebalance lock.
	_, err = nodeC.UpdateSettings(ctx, func(s *layout.Settings) error { s.Epoch++; return nil })
	requireDenied(t, err, "key:write", "zshard/cluster")
	_, _, err = sess.Lock(ctx, "rebalance", "h1")
	requireDenied(t, err, "key:write", "zshard/locks/rebalance")
	require.NoError(t, sess.Close(ctx))

	// The producer changes nothing in Consul.
	_, err = producerC.NewSession(ctx, "rebalance", 0)
	requireDenied(t, err, "session:write", "")
	requireDenied(t, producerC.SignalRemove(ctx, "node-0"), "key:write", "zshard/nodes/node-0")
	requireDenied(t, producerC.PutJSON(ctx, consul.RepairKey, map[string]int{"x": 1}), "key:write", "zshard/repair")

	// The operator rebalances and repairs: the lock, signals, the layout
	// and the repair's progress.
	osess, err := operatorC.NewSession(ctx, "rebalance", 0)
	require.NoError(t, err)
	ok, _, err = osess.Lock(ctx, "rebalance", "operator")
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, operatorC.SignalAdd(ctx, "node-1", ""))
	_, err = operatorC.UpdateSettings(ctx, func(s *layout.Settings) error { s.Epoch++; return nil })
	require.NoError(t, err)
	require.NoError(t, operatorC.PutJSON(ctx, consul.RepairKey, map[string]int{"x": 1}))
	require.NoError(t, osess.Close(ctx))
	// ... but registers no node.
	_, err = operatorC.Register(ctx, reg("node-1", 2001))
	requireDenied(t, err, "service:write", "zshard")
	require.NoError(t, r.Deregister(ctx))
}
