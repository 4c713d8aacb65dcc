package supervisor_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/testcluster"
)

// binary is server_consumer, built once for the integration tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	os.Exit(testcluster.RunWithCommands(m, map[string]*string{"server_consumer": &binary}))
}

// start runs server_consumer with args against agent.
func start(t *testing.T, agent *testcluster.Consul, args ...string) *testcluster.Process {
	t.Helper()
	return testcluster.StartProcess(t, binary, append(args, "--consul", agent.Addr)...)
}

// supervisorArgs returns the arguments of `server_consumer N` on free ports.
var supervisorArgs = testcluster.ServerArgs

// instance is what Consul says about one registered node.
type instance struct {
	Meta    map[string]string
	Passing bool
}

func instances(t *testing.T, c *api.Client) map[string]instance {
	t.Helper()
	entries, _, err := c.Health().Service("zshard", "", false, nil)
	require.NoError(t, err)
	out := map[string]instance{}
	for _, e := range entries {
		out[e.Service.ID] = instance{Meta: e.Service.Meta, Passing: e.Checks.AggregatedStatus() == api.HealthPassing}
	}
	return out
}

func passingNames(t *testing.T, c *api.Client) []string {
	t.Helper()
	var names []string
	for name, in := range instances(t, c) {
		if in.Passing {
			names = append(names, name)
		}
	}
	return sortStrings(names)
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// eventually polls cond every 100ms for up to 30s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testcluster.Eventually(t, what, 30*time.Second, 100*time.Millisecond, cond)
}

func nodePIDs(t *testing.T, pid int) map[string]int { return testcluster.NodePIDs(t, pid) }

func alive(pid int) bool { return testcluster.Alive(pid) }

func TestSupervisorLifecycle(t *testing.T) {
	agent := testcluster.StartConsul(t)
	args := supervisorArgs(t, 4, "--host", "lab-host")
	base, _ := strconv.Atoi(args[2])
	sup := start(t, agent, args...)

	want := []string{"node-0", "node-1", "node-2", "node-3"}
	eventually(t, "four nodes pass", func() bool { return len(passingNames(t, agent.Client)) == 4 })
	require.Equal(t, want, passingNames(t, agent.Client))
	for i, name := range want {
		meta := instances(t, agent.Client)[name].Meta
		require.Equal(t, fmt.Sprintf("tcp://127.0.0.1:%d", base+i), meta["rep"], name)
		require.Equal(t, fmt.Sprintf("tcp://127.0.0.1:%d", base+100+i), meta["pull"], name)
		require.Equal(t, "lab-host", meta["host"], name)
	}

	// The Consul CLI sees the same.
	cli := func(args ...string) string {
		args = append([]string{args[0], args[1], "-http-addr=" + agent.Addr}, args[2:]...)
		out, err := exec.Command(mustConsulBin(t), args...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	require.Contains(t, cli("catalog", "services", "-tags"), "zshard")
	var watched []struct{ Service struct{ ID string } }
	require.NoError(t, json.Unmarshal([]byte(cli("watch", "-type=service", "-service=zshard", "-passingonly=true")), &watched))
	require.Len(t, watched, 4)

	// Add signal: node-4 is launched and passes.
	_, err := agent.Client.KV().Put(&api.KVPair{Key: "zshard/nodes/node-4", Value: []byte(`{"state":"up"}`)}, nil)
	require.NoError(t, err)
	eventually(t, "node-4 passes", func() bool { return instances(t, agent.Client)["node-4"].Passing })

	// Remove signal: node-1 stops and leaves the catalog.
	pids := nodePIDs(t, sup.Pid())
	require.Len(t, pids, 5)
	_, err = agent.Client.KV().Put(&api.KVPair{Key: "zshard/nodes/node-1", Value: []byte(`{"state":"removed"}`)}, nil)
	require.NoError(t, err)
	eventually(t, "node-1 leaves the catalog", func() bool {
		_, ok := instances(t, agent.Client)["node-1"]
		return !ok
	})
	eventually(t, "node-1's process exits", func() bool { return !alive(pids["node-1"]) })

	// SIGTERM: every node deregisters and no process is left.
	pids = nodePIDs(t, sup.Pid())
	require.Len(t, pids, 4)
	sup.Signal(syscall.SIGTERM)
	require.NoError(t, sup.Wait(t, 30*time.Second))
	require.Empty(t, instances(t, agent.Client), "instances left registered after SIGTERM")
	for name, pid := range pids {
		require.False(t, alive(pid), "%s (pid %d) outlived its supervisor", name, pid)
	}
}

func TestSupervisorRestartsKilledNode(t *testing.T) {
	agent := testcluster.StartConsul(t)
	sup := start(t, agent, supervisorArgs(t, 3)...)
	eventually(t, "three nodes pass", func() bool { return len(passingNames(t, agent.Client)) == 3 })

	old := nodePIDs(t, sup.Pid())["node-2"]
	require.NotZero(t, old)
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))

	eventually(t, "node-2 runs again under a new pid", func() bool {
		pid := nodePIDs(t, sup.Pid())["node-2"]
		return pid != 0 && pid != old
	})
	eventually(t, "node-2 passes again", func() bool { return instances(t, agent.Client)["node-2"].Passing })
	require.Contains(t, sup.Output(), "node exited unexpectedly; restarting")
}

func TestNodesReRegisterAfterAgentRestart(t *testing.T) {
	agent := testcluster.StartConsul(t)
	start(t, agent, supervisorArgs(t, 2)...)
	eventually(t, "two nodes pass", func() bool { return len(passingNames(t, agent.Client)) == 2 })

	agent.Restart(t) // a dev agent forgets services, sessions and KV
	eventually(t, "both nodes registered again", func() bool {
		return len(passingNames(t, agent.Client)) == 2
	})
	// The supervisor restores the add signals it was started with.
	eventually(t, "add signals restored", func() bool {
		keys, _, err := agent.Client.KV().Keys("zshard/nodes/", "", nil)
		return err == nil && len(keys) == 2
	})
}

func TestTwoSupervisorsRunEachNodeOnce(t *testing.T) {
	agent := testcluster.StartConsul(t)
	a := start(t, agent, supervisorArgs(t, 3, "--host", "host-a")...)
	eventually(t, "three nodes pass", func() bool { return len(passingNames(t, agent.Client)) == 3 })
	b := start(t, agent, supervisorArgs(t, 3, "--host", "host-b")...)

	// b finds every node claimed and starts none.
	time.Sleep(2 * time.Second)
	require.Len(t, nodePIDs(t, a.Pid()), 3)
	require.Empty(t, nodePIDs(t, b.Pid()))

	// a goes away: b takes the nodes over.
	a.Signal(syscall.SIGTERM)
	require.NoError(t, a.Wait(t, 30*time.Second))
	eventually(t, "host-b runs all three nodes", func() bool {
		ins := instances(t, agent.Client)
		n := 0
		for _, in := range ins {
			if in.Passing && in.Meta["host"] == "host-b" {
				n++
			}
		}
		return n == 3
	})
	require.Len(t, nodePIDs(t, b.Pid()), 3)

	// A signal naming a host is run by that host only.
	_, err := agent.Client.KV().Put(&api.KVPair{Key: "zshard/nodes/node-9", Value: []byte(`{"state":"up","host":"host-c"}`)}, nil)
	require.NoError(t, err)
	time.Sleep(2 * time.Second)
	_, ok := instances(t, agent.Client)["node-9"]
	require.False(t, ok, "a node meant for host-c was launched by host-b")
}

func TestPortTakenIsReportedNotRetried(t *testing.T) {
	agent := testcluster.StartConsul(t)
	args := supervisorArgs(t, 1)
	l, err := net.Listen("tcp", "127.0.0.1:"+args[2]) // node-0's request port
	require.NoError(t, err)
	defer l.Close()

	sup := start(t, agent, args...)
	eventually(t, "the failure is reported", func() bool {
		return strings.Contains(sup.Output(), "will not be restarted")
	})
	require.Contains(t, sup.Output(), "port already in use")
	time.Sleep(time.Second)
	require.Equal(t, 1, strings.Count(sup.Output(), "node launched"), "a node that cannot bind was restarted")
}

func TestNodeNameTakenByLiveProcess(t *testing.T) {
	agent := testcluster.StartConsul(t)
	first := start(t, agent, "node", "--name", "db-1", "--rep-port", "0", "--pull-port", "0")
	eventually(t, "db-1 passes", func() bool { return instances(t, agent.Client)["db-1"].Passing })

	second := start(t, agent, "node", "--name", "db-1", "--rep-port", "0", "--pull-port", "0")
	err := second.Wait(t, 30*time.Second)
	require.Error(t, err)
	require.Contains(t, second.Output(), "already registered by another live process")
	require.True(t, instances(t, agent.Client)["db-1"].Passing, "the first db-1 lost its registration")
	_ = first
}

func TestUnreachableConsulIsExplained(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the server_consumer binary")
	}
	cmd := exec.Command(binary, "2", "--consul", "127.0.0.1:1")
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "cannot reach Consul at 127.0.0.1:1")
	require.Contains(t, string(out), "make consul")
}

func mustConsulBin(t *testing.T) string {
	t.Helper()
	p, err := testcluster.ConsulBinary()
	require.NoError(t, err)
	return p
}

var _ = context.Background
