package acltest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/testcluster"
)

// serverBin and clientBin are server_consumer and client_producer, built
// once for the tests.
var serverBin, clientBin string

func TestMain(m *testing.M) {
	os.Exit(testcluster.RunWithCommands(m, map[string]*string{"server_consumer": &serverBin, "client_producer": &clientBin}))
}

// exitPermission is the exit code of both programs for an ACL refusal.
const exitPermission = 4

// secure is an agent with ACLs and TLS, and a token file per policy of
// deploy/consul-acl.
type secure struct {
	agent  *testcluster.Consul
	tokens map[string]string // policy name -> token file
	dir    string
}

func newSecure(t *testing.T) *secure {
	t.Helper()
	s := &secure{
		agent:  testcluster.StartConsulWith(t, testcluster.ConsulOptions{ACL: true, TLS: true}),
		tokens: map[string]string{},
		dir:    t.TempDir(),
	}
	root, err := testcluster.ModuleRoot()
	require.NoError(t, err)
	for _, name := range []string{"node", "producer", "operator"} {
		rules, err := os.ReadFile(filepath.Join(root, "deploy", "consul-acl", name+".hcl"))
		require.NoError(t, err)
		s.tokens[name] = s.tokenFile(t, name, string(rules))
	}
	return s
}

// tokenFile creates a token with the given rules and writes it to a file.
func (s *secure) tokenFile(t *testing.T, name, rules string) string {
	t.Helper()
	path := filepath.Join(s.dir, name+".token")
	require.NoError(t, os.WriteFile(path, []byte(s.agent.CreateToken(t, "zshard-"+name, rules)+"\n"), 0o600))
	return path
}

// flags are the Consul flags of a program run with the token file of
// policy ("" for none).
func (s *secure) flags(policy string) []string {
	f := []string{"--consul", s.agent.Addr, "--consul-cacert", s.agent.TLS.CAFile,
		"--consul-client-cert", s.agent.TLS.CertFile, "--consul-client-key", s.agent.TLS.KeyFile}
	if policy != "" {
		f = append(f, "--consul-token-file", s.tokens[policy])
	}
	return f
}

// run runs bin with args and env (added to this process's) and returns its
// output and exit code; it fails the test if bin runs longer than 3 minutes.
func run(t *testing.T, env []string, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, ctx.Err(), "%s %v did not finish:\n%s", bin, args, out)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err)
	return string(out), 0
}

// producer runs client_producer with the token of policy.
func (s *secure) producer(t *testing.T, policy string, args ...string) (string, int) {
	t.Helper()
	return run(t, nil, clientBin, append(s.flags(policy), args...)...)
}

// passing returns the names of the passing instances of zshard.
func (s *secure) passing(t *testing.T) []string {
	t.Helper()
	entries, _, err := s.agent.Client.Health().Service("zshard", "", true, nil)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Service.ID)
	}
	return names
}

// waitPassing waits until n instances pass.
func (s *secure) waitPassing(t *testing.T, n int) {
	t.Helper()
	testcluster.Eventually(t, "instances passing", 2*time.Minute, 100*time.Millisecond, func() bool {
		return len(s.passing(t)) == n
	})
}

// TestTokensDoTheirJobAndNoMore runs a cluster over TLS with the node
// token, stores its settings and rebalances with the operator token, reads
// and writes with the producer token, and checks the calls each token may
// not make.
func TestTokensDoTheirJobAndNoMore(t *testing.T) {
	s := newSecure(t)

	// No token: refused, with the permission and how to give a token.
	out, code := s.producer(t, "", "status")
	require.Equal(t, exitPermission, code, out)
	require.Contains(t, out, "anonymous token")
	require.Contains(t, out, `lacks key:read on "zshard/cluster"`)
	require.Contains(t, out, "CONSUL_HTTP_TOKEN")

	// A producer token cannot run the servers: refused, exit 4, no retry.
	sup, code := run(t, nil, serverBin, testcluster.ServerArgs(t, 1, s.flags("producer")...)...)
	require.Equal(t, exitPermission, code, sup)
	require.Contains(t, sup, "lacks key:write on \"zshard/nodes/node-0\"")

	// The node token runs them; the nodes get it from their supervisor.
	testcluster.StartProcess(t, serverBin, testcluster.ServerArgs(t, 3, s.flags("node")...)...)
	s.waitPassing(t, 3)

	// A new cluster's settings are stored by the operator token only.
	out, code = s.producer(t, "producer", "-R", "1", "put", "k", "v")
	require.Equal(t, exitPermission, code, out)
	require.Contains(t, out, "lacks key:write on \"zshard/cluster\"")
	out, code = s.producer(t, "operator", "-R", "1", "put", "k", "v")
	require.Zero(t, code, out)

	// The producer token reads and writes data.
	for _, args := range [][]string{{"put", "k2", "v2"}, {"load", "--keys", "500"}, {"get", "k2"}, {"status"}, {"delete", "k"}} {
		out, code = s.producer(t, "producer", args...)
		require.Zero(t, code, "%v: %s", args, out)
	}
	out, _ = s.producer(t, "producer", "get", "k2")
	require.Contains(t, out, "v2")

	// ... but neither rebalances nor repairs.
	for _, args := range [][]string{{"add-node", "node-3"}, {"remove-node", "node-2"}, {"repair"}} {
		out, code = s.producer(t, "producer", args...)
		require.Equal(t, exitPermission, code, "%v: %s", args, out)
		require.Contains(t, out, "lacks session:write", args)
	}
	// Nor does the node token.
	out, code = s.producer(t, "node", "remove-node", "node-2")
	require.Equal(t, exitPermission, code, out)
	require.Contains(t, out, "lacks", out)

	// The operator token rebalances and repairs.
	out, code = s.producer(t, "operator", "add-node", "node-3")
	require.Zero(t, code, out)
	s.waitPassing(t, 4)
	out, code = s.producer(t, "operator", "repair")
	require.Zero(t, code, out)
	out, code = s.producer(t, "producer", "get", "k2")
	require.Zero(t, code, out)
	require.Contains(t, out, "v2")
}

// TestNodeRefusedStopsTheSupervisor gives the supervisor a token that may
// do its own part but not register a node: the node exits with code 4 and
// the supervisor stops with it instead of restarting it for ever.
func TestNodeRefusedStopsTheSupervisor(t *testing.T) {
	s := newSecure(t)
	root, err := testcluster.ModuleRoot()
	require.NoError(t, err)
	rules, err := os.ReadFile(filepath.Join(root, "deploy", "consul-acl", "node.hcl"))
	require.NoError(t, err)
	noService := strings.Replace(string(rules), "service \"zshard\" {\n  policy = \"write\"", "service \"zshard\" {\n  policy = \"read\"", 1)
	require.NotEqual(t, string(rules), noService, "node.hcl changed shape")
	s.tokens["no-service"] = s.tokenFile(t, "no-service", noService)

	out, code := run(t, nil, serverBin, testcluster.ServerArgs(t, 1, s.flags("no-service")...)...)
	require.Equal(t, exitPermission, code, out)
	require.Contains(t, out, "lacks service:write on \"zshard\"")
	require.Contains(t, out, "node node-0 was refused by Consul")
}

// TestEnvironmentVariables gives the address, token and TLS files through
// the CONSUL_* variables the Consul CLI reads instead of flags, and checks
// that TLS without the CA is refused.
func TestEnvironmentVariables(t *testing.T) {
	s := newSecure(t)
	hostPort := strings.TrimPrefix(s.agent.Addr, "https://")
	tlsEnv := []string{"CONSUL_CACERT=" + s.agent.TLS.CAFile,
		"CONSUL_CLIENT_CERT=" + s.agent.TLS.CertFile, "CONSUL_CLIENT_KEY=" + s.agent.TLS.KeyFile}
	token, err := os.ReadFile(s.tokens["producer"])
	require.NoError(t, err)
	for name, env := range map[string][]string{
		"https address and token file": append([]string{"CONSUL_HTTP_ADDR=" + s.agent.Addr, "CONSUL_HTTP_TOKEN_FILE=" + s.tokens["producer"]}, tlsEnv...),
		"CONSUL_HTTP_SSL and token":    append([]string{"CONSUL_HTTP_ADDR=" + hostPort, "CONSUL_HTTP_SSL=true", "CONSUL_HTTP_TOKEN=" + strings.TrimSpace(string(token))}, tlsEnv...),
	} {
		t.Run(name, func(t *testing.T) {
			out, code := run(t, env, clientBin, "--json", "status")
			require.Zero(t, code, out)
			require.Contains(t, out, `"settings_stored":false`)
		})
	}

	// Without the CA the agent's certificate is not trusted.
	out, code := run(t, []string{"CONSUL_HTTP_ADDR=" + s.agent.Addr, "CONSUL_HTTP_TOKEN_FILE=" + s.tokens["producer"]}, clientBin, "status")
	require.NotZero(t, code, out)
	require.Contains(t, out, "certificate")
	// Plain HTTP to the HTTPS port gets nowhere either.
	out, code = run(t, []string{"CONSUL_HTTP_ADDR=" + hostPort, "CONSUL_HTTP_TOKEN_FILE=" + s.tokens["producer"]}, clientBin, "status")
	require.NotZero(t, code, out)
}
