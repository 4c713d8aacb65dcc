package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/testcluster"
)

// The commands the static tests run as processes, built on first use (the
// other tests of the package do not wait for them) into binDir, which
// TestMain removes.
var (
	buildOnce            sync.Once
	binDir               string
	serverBin, clientBin string
	buildErr             error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// buildCommands builds server_consumer and client_producer once.
func buildCommands(t *testing.T) {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "zshard-commands"); buildErr != nil {
			return
		}
		serverBin, clientBin = filepath.Join(binDir, "server_consumer"), filepath.Join(binDir, "client_producer")
		out, err := exec.Command("go", "build", "-o", binDir+"/", "github.com/zshard/zshard/server_consumer", "github.com/zshard/zshard/client_producer").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
}

// startStatic runs `server_consumer --static n` on free ports and returns
// the global flags that reach it with `client_producer --static n`.
func startStatic(t *testing.T, n int) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts server_consumer processes")
	}
	buildCommands(t)
	base := testcluster.FreePortRange(t, 110)
	ports := []string{"--base-rep-port", strconv.Itoa(base), "--base-pull-port", strconv.Itoa(base + 100)}
	testcluster.StartProcess(t, serverBin, append([]string{"--static", strconv.Itoa(n)}, ports...)...)
	testcluster.Eventually(t, "every static node binds its ports", 30*time.Second, 20*time.Millisecond, func() bool {
		for i := range n {
			if testcluster.PortFree(base+i) || testcluster.PortFree(base+100+i) {
				return false
			}
		}
		return true
	})
	return append([]string{"--static", strconv.Itoa(n)}, ports...)
}

// cli runs the client_producer binary with args and returns its stdout;
// stderr goes into the error.
func cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(clientBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.Env = append(os.Environ(), "CONSUL_HTTP_ADDR=127.0.0.1:1") // a static producer never dials it
	if err := cmd.Run(); err != nil {
		return out.String(), &cliError{err: err, stderr: errOut.String()}
	}
	return out.String(), nil
}

type cliError struct {
	err    error
	stderr string
}

func (e *cliError) Error() string { return e.err.Error() + ": " + e.stderr }

// TestStaticCluster runs the class's phase 1 without Consul:
// `server_consumer --static 4` and client_producer --static 4, as processes.
func TestStaticCluster(t *testing.T) {
	g := startStatic(t, 4)

	_, err := cli(t, append(g, "put", "greeting", "hello world")...)
	require.NoError(t, err)
	out, err := cli(t, append(g, "get", "greeting")...)
	require.NoError(t, err)
	require.Equal(t, "hello world\n", out)
	_, err = cli(t, append(g, "load", "--keys", "1000")...)
	require.NoError(t, err)
	out, err = cli(t, append(g, "getall")...)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 1001)
	require.Contains(t, lines, "greeting\thello world")

	out, err = cli(t, append(g, "--json", "status")...)
	require.NoError(t, err)
	var st struct {
		Static int
		Nodes  []producer.NodeStatus
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, 4, st.Static)
	require.Len(t, st.Nodes, 4)
	var keys int64
	for _, n := range st.Nodes {
		require.True(t, n.Healthy, n.Error)
		require.Positive(t, n.Keys, "%s holds none of 1001 keys", n.Name)
		keys += n.Keys
	}
	require.EqualValues(t, 1001, keys, "R=0: one copy of every key")
	out, err = cli(t, append(g, "status")...)
	require.NoError(t, err)
	require.Contains(t, out, "static 4 nodes")

	out, err = cli(t, append(g, "--json", "delete", "greeting")...)
	require.NoError(t, err)
	require.JSONEq(t, `{"status":"OK","key":"greeting","deleted":true}`, out)
	_, err = cli(t, append(g, "get", "greeting")...)
	require.ErrorContains(t, err, "not found")

	for _, args := range [][]string{{"add-node", "node-4"}, {"remove-node", "node-0"}, {"repair"}} {
		_, err := cli(t, append(g, args...)...)
		require.ErrorContains(t, err, args[0]+" needs Consul", args)
	}
}

// TestStaticReplicas places with -R 1 over a static cluster: every key is
// on two nodes, and a put reports them.
func TestStaticReplicas(t *testing.T) {
	g := append(startStatic(t, 3), "-R", "1", "--hash", "consistent")
	out, err := cli(t, append(g, "--json", "put", "k", "v")...)
	require.NoError(t, err)
	var put struct{ Replicas []string }
	require.NoError(t, json.Unmarshal([]byte(out), &put))
	require.Len(t, put.Replicas, 2)
	_, err = cli(t, append(g, "load", "--keys", "300")...)
	require.NoError(t, err)
	out, err = cli(t, append(g, "--json", "status")...)
	require.NoError(t, err)
	var st struct{ Nodes []producer.NodeStatus }
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	var keys int64
	for _, n := range st.Nodes {
		keys += n.Keys
	}
	require.EqualValues(t, 2*301, keys)
}

// TestStaticBench runs bench with --static: its private nodes register
// nowhere.
func TestStaticBench(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a benchmark")
	}
	buildCommands(t)
	out, err := cli(t, "--static", "1", "--json", "bench", "--keys", "500", "--nodes", "2", "--algorithms", "hrw", "--codecs", "msgpack", "--latency-ops", "100")
	require.NoError(t, err)
	var res struct {
		Runs []struct {
			Errors  int
			BulkPut struct {
				CPUSecondsPerMillion float64            `json:"cpu_seconds_per_million"`
				ByProcess            map[string]float64 `json:"cpu_seconds_by_process"`
			} `json:"bulk_put"`
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Len(t, res.Runs, 1)
	require.Zero(t, res.Runs[0].Errors)
	require.Positive(t, res.Runs[0].BulkPut.CPUSecondsPerMillion, "the CPU cost of the bulk PUT")
	require.Contains(t, res.Runs[0].BulkPut.ByProcess, "nodes")
}

func TestStaticFlags(t *testing.T) {
	_, _, err := run2(t, "--static", "-1", "status")
	require.ErrorContains(t, err, "--static -1")
	_, _, err = run2(t, "--static", "2", "--base-rep-port", "65535", "status")
	require.ErrorContains(t, err, "ports out of range")
}
