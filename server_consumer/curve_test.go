package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/testcluster"
)

// keyFiles writes a keypair as keygen does, at dir/name.{pub,secret}, and
// returns the prefix.
func keyFiles(t *testing.T, dir, name string) string {
	t.Helper()
	kp, err := curve.Generate()
	require.NoError(t, err)
	prefix := filepath.Join(dir, name)
	_, _, err = curve.WriteKeypair(prefix, kp)
	require.NoError(t, err)
	return prefix
}

// TestCurveStaticWithPythonClient runs two CURVE nodes with --static and
// the lab guide's pyzmq client against them: an allowed key is served, a
// key outside the allowlist and a plaintext client get no reply.
func TestCurveStaticWithPythonClient(t *testing.T) {
	if err := curve.Available(); err != nil {
		t.Skip(err)
	}
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Fatal("/usr/bin/python3 missing (make bootstrap installs python3-zmq)")
	}
	root, err := testcluster.ModuleRoot()
	require.NoError(t, err)
	client := filepath.Join(root, "docs", "lab", "client.py")

	dir := t.TempDir()
	keys, clients := filepath.Join(dir, "keys"), filepath.Join(dir, "clients")
	require.NoError(t, os.Mkdir(keys, 0o700))
	require.NoError(t, os.Mkdir(clients, 0o755))
	server := keyFiles(t, keys, "server")
	alice := keyFiles(t, keys, "alice")
	bob := keyFiles(t, keys, "bob")
	pub, err := os.ReadFile(alice + ".pub")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(clients, "alice.pub"), pub, 0o644))

	req, ingest := freeBases(t, 2)
	p := start(t, "--static", "2", "--base-rep-port", fmt.Sprint(req), "--base-pull-port", fmt.Sprint(ingest),
		"--curve-secret-file", server+".secret", "--curve-clients", clients)
	eps := p.ready(t, 2)

	run := func(args ...string) (string, error) {
		out, err := exec.Command(py, append([]string{client}, args...)...).CombinedOutput()
		return string(out), err
	}
	for _, name := range []string{"node-0", "node-1"} {
		ep := eps[name]
		secure := []string{"--curve-secret-file", alice + ".secret", "--curve-server-key", server + ".pub", "--endpoint", ep}
		out, err := run(append(secure, "put", "user:1", "ada "+name)...)
		require.NoError(t, err, out)
		require.Contains(t, out, `"status": "OK"`)
		out, err = run(append(secure, "get", "user:1")...)
		require.NoError(t, err, out)
		require.Contains(t, out, `"value": "ada `+name+`"`)

		out, err = run("--curve-secret-file", bob+".secret", "--curve-server-key", server+".pub", "--endpoint", ep, "get", "user:1")
		require.Error(t, err, "a key outside the allowlist was served: %s", out)
		require.Contains(t, out, "no reply")
		out, err = run("--endpoint", ep, "get", "user:1")
		require.Error(t, err, "a plaintext client was served: %s", out)
		require.Contains(t, out, "no reply")
	}
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, p.cmd.Wait())
}

func TestCurveUsageErrors(t *testing.T) {
	if err := curve.Available(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	server := keyFiles(t, dir, "server")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "open.secret"), []byte("x"), 0o644))
	for _, args := range [][]string{
		{"node", "--curve-secret-file", server + ".secret"},                                             // no --curve-clients
		{"node", "--curve-clients", dir},                                                                // no key
		{"node", "--curve-secret-file", filepath.Join(dir, "none.secret"), "--curve-clients", dir},      // missing key
		{"node", "--curve-secret-file", filepath.Join(dir, "open.secret"), "--curve-clients", dir},      // readable by others
		{"node", "--curve-secret-file", server + ".secret", "--curve-clients", filepath.Join(dir, "x")}, // no directory
		{"--static", "1", "--curve-secret-file", server + ".secret"},
	} {
		out, err := exec.Command(binary, args...).CombinedOutput()
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, "%v", args)
		require.Equal(t, 2, ee.ExitCode(), "%v: %s", args, out)
		require.Contains(t, string(out), "curve", "%v", args)
	}
}

// TestPlaintextBindWarning: a node binding beyond loopback without CURVE
// warns at start; one on loopback does not.
func TestPlaintextBindWarning(t *testing.T) {
	for _, tc := range []struct {
		bind string
		warn bool
	}{{"0.0.0.0", true}, {"127.0.0.1", false}} {
		t.Run(tc.bind, func(t *testing.T) {
			cmd := exec.Command(binary, "node", "--name", "solo", "--bind", tc.bind)
			var stderr testcluster.SyncBuffer
			cmd.Stderr = &stderr
			out, err := cmd.StdoutPipe()
			require.NoError(t, err)
			require.NoError(t, cmd.Start())
			buf := make([]byte, 256)
			_, err = out.Read(buf) // the READY line: the node started
			require.NoError(t, err)
			require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
			require.NoError(t, cmd.Wait())
			require.Equal(t, tc.warn, strings.Contains(stderr.String(), "without CURVE"), stderr.String())
		})
	}
}

// TestCurveSIGHUPReloads: SIGHUP makes a CURVE node re-read its allowlist,
// and does not stop it.
func TestCurveSIGHUPReloads(t *testing.T) {
	if err := curve.Available(); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	server := keyFiles(t, dir, "server")
	cmd := exec.Command(binary, "node", "--name", "solo", "--curve-secret-file", server+".secret", "--curve-clients", dir)
	var stderr testcluster.SyncBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, 256)
	_, err = out.Read(buf) // the READY line
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Signal(syscall.SIGHUP))
	testcluster.Eventually(t, "the reload is logged", 20*time.Second, 10*time.Millisecond, func() bool {
		return strings.Contains(stderr.String(), "SIGHUP: CURVE allowlist reloaded")
	})
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "the node kept running until SIGTERM")
}
