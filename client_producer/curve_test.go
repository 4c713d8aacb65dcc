package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/reqclient"
	"github.com/zshard/zshard/internal/testcluster"
)

// curveKeys are the key files of a CURVE test cluster: the nodes' shared
// key, an ordinary client (app), an admin (ops) and a stranger (bob), as
// keygen writes them, and the allowlist directories.
type curveKeys struct {
	dir, clients, admins string
	server, app, ops     string // prefixes
	bob                  string
}

func newCurveKeys(t *testing.T) curveKeys {
	t.Helper()
	if err := curve.Available(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	k := curveKeys{dir: dir, clients: filepath.Join(dir, "clients"), admins: filepath.Join(dir, "admins")}
	require.NoError(t, os.Mkdir(k.clients, 0o755))
	require.NoError(t, os.Mkdir(k.admins, 0o755))
	for _, p := range []*string{&k.server, &k.app, &k.ops, &k.bob} {
		*p = filepath.Join(dir, map[*string]string{&k.server: "server", &k.app: "app", &k.ops: "ops", &k.bob: "bob"}[p])
		out, _, err := run2(t, "keygen", *p)
		require.NoError(t, err)
		require.Contains(t, out, "written to "+*p+".pub")
	}
	cp := func(from, to string) {
		b, err := os.ReadFile(from)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(to, b, 0o644))
	}
	cp(k.app+".pub", filepath.Join(k.clients, "app.pub"))
	cp(k.ops+".pub", filepath.Join(k.admins, "ops.pub"))
	return k
}

// startCurveNode runs node name with CURVE through the node runtime,
// registered in the Consul agent at addr, and returns a function that
// stops it (also run at cleanup).
func startCurveNode(t *testing.T, addr, name string, k curveKeys) func() {
	t.Helper()
	kp, err := curve.LoadSecretFile(k.server + ".secret")
	require.NoError(t, err)
	cc, err := consul.New(consul.Config{Addr: addr})
	require.NoError(t, err)
	s, err := noderun.Start(context.Background(), noderun.Config{
		Node: node.Config{Name: name, PollInterval: 10 * time.Millisecond,
			Curve: &curve.ServerConfig{Key: kp, ClientsDir: k.clients, AdminsDir: k.admins}},
		Consul: cc, CatchUpSettle: 50 * time.Millisecond, RepairInterval: -1,
	})
	require.NoError(t, err)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			s.Stop()
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestCurveCluster runs client_producer against CURVE nodes registered in
// a real Consul agent: the nodes publish their key, an allowed key is
// served, a stranger's is reported not authorized naming the node, no key
// at all is a clear error, repair needs an admin key, and a restarted node
// catches up from its replica over CURVE.
func TestCurveCluster(t *testing.T) {
	k := newCurveKeys(t)
	c := testcluster.StartConsul(t)
	startCurveNode(t, c.Addr, "node-0", k)
	stop1 := startCurveNode(t, c.Addr, "node-1", k)
	cc, err := consul.New(consul.Config{Addr: c.Addr})
	require.NoError(t, err)
	pub, err := os.ReadFile(k.server + ".pub")
	require.NoError(t, err)
	var members []consul.Member
	testcluster.Eventually(t, "both nodes pass", 30*time.Second, 20*time.Millisecond, func() bool {
		members, err = cc.Members(context.Background())
		return err == nil && len(members) == 2
	})
	for _, m := range members {
		require.Equal(t, strings.TrimSpace(string(pub)), m.Curve, "Meta curve of %s", m.Name)
	}

	g := []string{"--consul", c.Addr, "-R", "1"}
	app := append(g, "--curve-secret-file", k.app+".secret")
	_, _, err = run2(t, append(app, "put", "user:1", "ada")...)
	require.NoError(t, err)
	out, _, err := run2(t, append(app, "get", "user:1")...)
	require.NoError(t, err)
	require.Equal(t, "ada\n", out)
	// The server key may also be given by file.
	out, _, err = run2(t, append(app, "--curve-server-key", k.server+".pub", "get", "user:1")...)
	require.NoError(t, err)
	require.Equal(t, "ada\n", out)

	_, _, err = run2(t, append(g, "get", "user:1")...)
	require.ErrorIs(t, err, curve.ErrKeyNeeded)
	require.ErrorContains(t, err, "--curve-secret-file")

	start := time.Now()
	_, _, err = run2(t, append(g, "--curve-secret-file", k.bob+".secret", "get", "user:1")...)
	require.ErrorIs(t, err, curve.ErrNotAuthorized)
	require.ErrorContains(t, err, "not authorized (CURVE)")
	require.ErrorContains(t, err, "node node-")
	require.Less(t, time.Since(start), time.Minute, "a refused key must not hang the producer")
	t.Logf("a refused key failed the command after %v: %v", time.Since(start).Round(time.Millisecond), err)

	out, errOut, err := run2(t, append(app, "repair", "--dry-run")...)
	require.ErrorContains(t, err, "forbidden", "%s\n%s", out, errOut)
	out, _, err = run2(t, append(g, "--curve-secret-file", k.ops+".secret", "repair")...)
	require.NoError(t, err)
	require.Contains(t, out, "0 differing")

	// node-1 restarts empty (in memory) and copies user:1 back from node-0,
	// which admits its key: the nodes share theirs.
	stop1()
	startCurveNode(t, c.Addr, "node-1", k)
	ops, err := curve.LoadClient(k.ops+".secret", "")
	require.NoError(t, err)
	testcluster.Eventually(t, "node-1 caught up", 60*time.Second, 50*time.Millisecond, func() bool {
		ms, err := cc.Members(context.Background())
		if err != nil {
			return false
		}
		for _, m := range ms {
			if m.Name == "node-1" && m.Ready {
				rc := reqclient.New(m.RepURL, 5*time.Second).Secure(ops, m.Name, m.Curve)
				defer rc.Close()
				rep, err := rc.Call(context.Background(), &protocol.Request{Op: protocol.OpGetOne, Key: "user:1"})
				return err == nil && string(rep.Value) == `"ada"`
			}
		}
		return false
	})
}

func TestKeygen(t *testing.T) {
	if err := curve.Available(); err != nil {
		t.Skip(err)
	}
	prefix := filepath.Join(t.TempDir(), "k")
	out, _, err := run2(t, "keygen", prefix)
	require.NoError(t, err)
	pub, err := os.ReadFile(prefix + ".pub")
	require.NoError(t, err)
	require.Len(t, strings.TrimSpace(string(pub)), curve.KeyLen)
	require.Contains(t, out, strings.TrimSpace(string(pub)))
	fi, err := os.Stat(prefix + ".secret")
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	kp, err := curve.LoadSecretFile(prefix + ".secret")
	require.NoError(t, err)
	require.Equal(t, strings.TrimSpace(string(pub)), kp.Public)

	_, _, err = run2(t, "keygen", prefix)
	require.ErrorContains(t, err, "exists")
	_, _, err = run2(t, "--curve-server-key", prefix+".pub", "status")
	require.ErrorContains(t, err, "needs --curve-secret-file")
	_, _, err = run2(t, "--curve-secret-file", prefix+".pub", "status") // world-readable
	require.ErrorContains(t, err, "chmod 600")
}
