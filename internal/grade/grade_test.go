package grade_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/grade"
	"github.com/zshard/zshard/internal/testcluster"
)

var (
	buildOnce sync.Once
	buildDir  string
	serverBin string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// server returns the path of server_consumer, built on first use (not in
// TestMain: fuzzing workers run TestMain too, and need no server).
func server(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: runs server_consumer (runs without -short)")
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "zshard-grade"); buildErr != nil {
			return
		}
		serverBin = filepath.Join(buildDir, "server_consumer")
		out, err := exec.Command("go", "build", "-o", serverBin, "github.com/zshard/zshard/server_consumer").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building server_consumer: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return serverBin
}

// python is the Python the broken servers run with; the test is skipped
// without pyzmq.
func python(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: runs Python servers (runs without -short)")
	}
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import zmq").Run(); err != nil {
		t.Skipf("%s with pyzmq is needed (make bootstrap): %v", py, err)
	}
	return py
}

// ports returns a config with free request and ingest port ranges.
func ports(t *testing.T, cfg grade.Config) grade.Config {
	base := testcluster.FreePortRange(t, 110)
	cfg.RepBase, cfg.PullBase = base, base+100
	return cfg
}

func consulBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping: needs a real Consul agent (runs without -short)")
	}
	bin, err := testcluster.ConsulBinary()
	if err != nil {
		t.Skip(err)
	}
	return bin
}

func run(t *testing.T, cfg grade.Config) grade.Card {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var log bytes.Buffer
	cfg.Progress = &log
	card, err := grade.Run(ctx, cfg)
	var text bytes.Buffer
	_ = card.WriteText(&text)
	t.Logf("scorecard:\n%s\nprogress:\n%s", text.String(), log.String())
	require.NoError(t, err)
	return card
}

func TestReferenceStaticPasses(t *testing.T) {
	cfg := ports(t, grade.Config{Nodes: 4})
	cfg.ServerCmd = fmt.Sprintf("%s --base-rep-port %d --base-pull-port %d --static", server(t), cfg.RepBase, cfg.PullBase)
	card := run(t, cfg)
	assert.Empty(t, card.Failed())
	assert.Len(t, card, 9)
	assert.True(t, card.Passed())
}

func TestReferenceConsulPasses(t *testing.T) {
	// Every phase: phases 1 and 2 find the nodes in Consul.
	cfg := ports(t, grade.Config{Nodes: 4, Consul: true, ConsulBin: consulBin(t), Keys: 3000, CaseKeys: 500,
		StartTimeout: time.Minute})
	cfg.ServerCmd = fmt.Sprintf("%s --base-rep-port %d --base-pull-port %d", server(t), cfg.RepBase, cfg.PullBase)
	card := run(t, cfg)
	assert.Empty(t, card.Failed())
	assert.Len(t, card, 9+4+2*4)
}

// TestBrokenServers runs the Python server of testdata with each of its
// bugs: each must fail exactly the checks it breaks, and pass the others.
func TestBrokenServers(t *testing.T) {
	py := python(t)
	script, err := filepath.Abs(filepath.Join("testdata", "server.py"))
	require.NoError(t, err)
	static := []string{grade.Phase1, grade.Phase2}
	cases := []struct {
		bug    string
		consul bool
		fails  []string
	}{
		{bug: "", fails: nil},
		{bug: "getall-ten", fails: []string{"phase2/GET_ALL"}},
		{bug: "hang-getall", fails: []string{"phase2/GET_ALL"}},
		{bug: "error-shape", fails: []string{"phase2/GET_ONE missing key", "phase2/bad input answered"}},
		{bug: "missing-null", fails: []string{"phase2/GET_ONE missing key"}},
		{bug: "crash-bad-json", fails: []string{"phase1/bad input on the ingest port", "phase2/bad input answered"}},
		{bug: "", consul: true, fails: nil},
		{bug: "no-deregister", consul: true, fails: []string{"consul/deregister on SIGTERM"}},
		{bug: "ignore-remove", consul: true, fails: []string{"consul/remove signal stops a node"}},
		{bug: "ignore-add", consul: true, fails: []string{"consul/add signal launches a node"}},
	}
	for _, c := range cases {
		name := cmpOr(c.bug, "correct")
		if c.consul {
			name += "/consul"
		}
		t.Run(name, func(t *testing.T) {
			cfg := ports(t, grade.Config{Nodes: 3, Keys: 3000, Timeout: 5 * time.Second, StartTimeout: 20 * time.Second, Phases: static})
			cfg.ServerCmd = py + " " + script
			if c.consul {
				cfg.ConsulBin, cfg.Consul = consulBin(t), true
				cfg.ServerCmd += " --consul"
				cfg.Phases = []string{grade.PhaseConsul}
			}
			if c.bug != "" {
				cfg.ServerCmd += " --bug " + c.bug
			}
			card := run(t, cfg)
			assert.Equal(t, c.fails, card.Failed())
			assert.Greater(t, len(card), len(c.fails))
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestServerThatDoesNotStart fails the start check with the server's
// output and skips the rest, without waiting for ports that never open.
func TestServerThatDoesNotStart(t *testing.T) {
	cfg := ports(t, grade.Config{Nodes: 2, Phases: []string{grade.Phase2}, ServerCmd: "echo no such server >&2; exit 3; :"})
	card := run(t, cfg)
	require.Len(t, card, 6)
	assert.False(t, card[0].Pass)
	assert.Contains(t, card[0].Got, "exit status 3")
	assert.Contains(t, card[0].Got, "no such server")
	for _, r := range card[1:] {
		assert.Contains(t, r.Got, "not run")
	}
}

func TestCardOutput(t *testing.T) {
	card := grade.Card{
		{Phase: "phase2", Check: "GET_ALL", Pass: false, Expected: "all 3", Got: "10 entries"},
		{Phase: "phase2", Check: "GET_ONE", Pass: true, Expected: "k", Got: "k"},
	}
	assert.False(t, card.Passed())
	assert.Equal(t, []string{"phase2/GET_ALL"}, card.Failed())
	var b bytes.Buffer
	require.NoError(t, card.WriteJSON(&b))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	require.Len(t, lines, 2)
	var r grade.Result
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &r))
	assert.Equal(t, card[0], r)
	b.Reset()
	require.NoError(t, card.WriteText(&b))
	assert.Contains(t, b.String(), "FAIL  phase2  GET_ALL\n      expected  all 3\n      got       10 entries\n")
	assert.Contains(t, b.String(), "1 of 2 checks passed")
	assert.False(t, grade.Card(nil).Passed())
}

func TestConfigValidate(t *testing.T) {
	err := grade.Config{Nodes: 0, Phases: []string{"phase9", grade.PhaseCases}}.Validate()
	require.Error(t, err)
	for _, want := range []string{"server command is empty", "0 nodes", "unknown phase", "needs Consul"} {
		assert.Contains(t, err.Error(), want)
	}
	assert.NoError(t, grade.Config{ServerCmd: "x", Nodes: 4}.Validate())
	assert.True(t, slices.Equal(grade.AllPhases, []string{"phase1", "phase2", "consul", "cases"}))
}

// TestCancelKillsTheProcessGroup interrupts the grader while it waits for a
// server that never listens: the grader returns, and every process of the
// server's group is gone, one that ignores SIGTERM (and outlives the
// group's leader, which does not) included.
func TestCancelKillsTheProcessGroup(t *testing.T) {
	pids := filepath.Join(t.TempDir(), "pids")
	cfg := ports(t, grade.Config{Nodes: 2, StartTimeout: 10 * time.Minute,
		ServerCmd: fmt.Sprintf(`(trap "" TERM; exec sleep 600 >/dev/null 2>&1) & echo $$ $! > %s; wait; :`, pids)})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer cancel()
		for range 1200 { // a minute
			if b, err := os.ReadFile(pids); err == nil && len(strings.Fields(string(b))) == 2 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	_, err := grade.Run(ctx, cfg)
	require.ErrorIs(t, err, context.Canceled)
	b, err := os.ReadFile(pids)
	require.NoError(t, err)
	for _, f := range strings.Fields(string(b)) {
		var pid int
		_, err := fmt.Sscan(f, &pid)
		require.NoError(t, err)
		testcluster.Eventually(t, fmt.Sprintf("process %d gone", pid), time.Minute, 50*time.Millisecond,
			func() bool { return !testcluster.Alive(pid) })
	}
}
