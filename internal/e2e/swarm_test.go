//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/layout"
)

// The swarm test runs this test binary a second time, inside a container on
// the stack's overlay network (the only place the nodes' registered
// addresses are reachable from), for the steps that talk to Consul and the
// nodes. These environment variables select such a step.
const (
	swarmStepEnv  = "ZSHARD_SWARM_STEP"  // wait, load or check
	swarmNodesEnv = "ZSHARD_SWARM_NODES" // the expected members, space separated
	swarmKeys     = 3000                 // keys loaded into the stack
	// swarmOwnedLabel marks the swarm node of an engine the test made a
	// single-node swarm of, so that a later run can tell its own leftover
	// swarm (an interrupted run) from someone else's.
	swarmOwnedLabel = "org.zshard.e2e-swarm"
)

// swarmKey and swarmValue are the keys the load step writes and the check
// step reads back.
func swarmKey(i int) string   { return fmt.Sprintf("swarm-%05d", i) }
func swarmValue(i int) string { return fmt.Sprintf("value %d loaded into the stack", i) }

// TestSwarmStack deploys deploy/swarm/zshard-stack.yml on the local engine
// (a single-node swarm made for the test and left afterwards), loads keys at
// R=2, kills a node's task (Swarm restarts it), adds node-4 (scale to 1 and
// add-node) and removes node-0 (remove-node and scale to 0), reads every key
// back, and removes the stack, checking that no service, container, network
// or volume of it remains.
func TestSwarmStack(t *testing.T) {
	if os.Getenv(swarmStepEnv) != "" {
		t.Skip("running a step inside the stack (TestSwarmStep)")
	}
	s := newSwarmStack(t)

	s.waitNodes(nodes)
	s.step("load", nodes)

	// A node's task killed (SIGKILL: no deregistration): Swarm starts a new
	// task on the same host, with the same volume and another address.
	killed := s.container("node-1")
	s.docker("kill", killed)
	t.Logf("killed node-1's task container %.12s", killed)
	waitFor(t, "Swarm restarted node-1's task", func() (bool, string) {
		id, _ := s.tryContainer("node-1")
		return id != "" && id != killed, "running container: " + id
	})
	s.waitNodes(nodes)
	s.step("check", nodes)

	// Add node-4: the orchestrator's scale step, then the data's move.
	s.docker("service", "scale", "--detach", s.service("node-4")+"=1")
	t0 := time.Now()
	out := s.producer(8*time.Minute, "add-node", "node-4", "--quiet")
	t.Logf("add-node node-4 took %s:\n%s", time.Since(t0).Round(100*time.Millisecond), out)
	with4 := append(slices.Clone(nodes), "node-4")
	s.waitNodes(with4)

	// Remove node-0: the data first, then the scale step.
	t0 = time.Now()
	out = s.producer(8*time.Minute, "remove-node", "node-0", "--quiet")
	t.Logf("remove-node node-0 took %s:\n%s", time.Since(t0).Round(100*time.Millisecond), out)
	s.docker("service", "scale", "--detach", s.service("node-0")+"=0")
	after := []string{"node-1", "node-2", "node-3", "node-4"}
	s.waitNodes(after)
	s.step("check", after)
	status := s.producer(2*time.Minute, "status")
	t.Logf("status:\n%s", status)
	assert.NotContains(t, status, "node-0")
	assert.Contains(t, status, "node-4")
}

// TestSwarmStep is one step of TestSwarmStack, run inside the stack's
// network with CONSUL_HTTP_ADDR set: wait until exactly the nodes of
// ZSHARD_SWARM_NODES pass (and print their registered endpoints), load the
// keys through the producer at R=2, or check that the layout's members are
// those nodes and read every key back.
func TestSwarmStep(t *testing.T) {
	step := os.Getenv(swarmStepEnv)
	if step == "" {
		t.Skip("runs inside the stack, started by TestSwarmStack")
	}
	want := strings.Fields(os.Getenv(swarmNodesEnv))
	cfg := api.DefaultConfig() // CONSUL_HTTP_ADDR
	cc, err := api.NewClient(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	newProducer := func() *producer.Producer {
		p, err := producer.New(ctx, producer.Config{
			Consul:   consul.Config{Addr: cfg.Address},
			Settings: layout.Settings{Algorithm: "consistent", Replicas: 2},
		})
		require.NoError(t, err)
		t.Cleanup(func() { p.Close() })
		return p
	}
	// The stack's Consul may still be starting (or its name not yet in
	// the overlay network's DNS).
	waitFor(t, "Consul has a leader", func() (bool, string) {
		leader, err := cc.Status().Leader()
		return err == nil && leader != "", fmt.Sprintf("leader %q, error %v", leader, err)
	})
	switch step {
	case "wait":
		waitFor(t, "passing: "+strings.Join(want, " "), func() (bool, string) {
			in := instances(t, cc)
			return slices.Equal(passing(in), want) && len(in) == len(want), describe(in)
		})
		for name, in := range instances(t, cc) {
			fmt.Printf("REGISTERED %s %s\n", name, in.rep)
		}
	case "load":
		p := newProducer()
		require.Equal(t, 2, p.Settings().Replicas, "the cluster's stored settings")
		b, err := p.NewBulk()
		require.NoError(t, err)
		for i := range swarmKeys {
			require.NoError(t, b.Put(ctx, swarmKey(i), encode(t, p, swarmValue(i))))
		}
		require.NoError(t, b.Sync(ctx), "SYNC barrier after the bulk load")
		require.NoError(t, b.Close())
		assert.Equal(t, want, p.Settings().Members, "the members recorded by the first producer")
	case "check":
		p := newProducer()
		st := p.Settings()
		assert.Equal(t, want, st.Members, "layout members")
		assert.Nil(t, st.Migration, "no migration left unfinished")
		all := map[string]string{}
		for i := range swarmKeys {
			all[swarmKey(i)] = swarmValue(i)
		}
		readBack(t, p, all, "on members "+strings.Join(want, " "))
	default:
		t.Fatalf("unknown %s %q", swarmStepEnv, step)
	}
}

// swarmStack is one deployment of deploy/swarm/zshard-stack.yml, private
// to a test.
type swarmStack struct {
	t           *testing.T
	name        string // the stack's name: services are <name>_node-0 ...
	zshardImage string
	consulImage string
	self        string // this test binary, run inside the stack for the steps
}

// newSwarmStack makes the engine a single-node swarm (or refuses, if it is
// in someone else's swarm), labels its node for every node-i's placement,
// and deploys the stack under a random name. Its cleanups remove the stack
// and its volumes, check that nothing of it remains, and leave the swarm.
func newSwarmStack(t *testing.T) *swarmStack {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("docker is not installed")
	}
	out, err := tryDocker("info", "--format", "{{.ServerVersion}}")
	require.NoError(t, err, "cannot reach the Docker engine: %s", out)
	var suffix [3]byte
	_, _ = rand.Read(suffix[:])
	self, err := os.Executable()
	require.NoError(t, err)
	s := &swarmStack{
		t:           t,
		name:        "zshard-e2e-" + hex.EncodeToString(suffix[:]),
		zshardImage: envOr("ZSHARD_IMAGE", defaultZshardImage),
		consulImage: envOr("CONSUL_IMAGE", defaultConsulImage),
		self:        self,
	}
	for _, img := range []string{s.zshardImage, s.consulImage} {
		out, err := tryDocker("image", "inspect", "--format", "{{.Id}}", img)
		require.NoError(t, err, "image %s is missing: build it with make docker-images (%s)", img, out)
	}
	nodeID := joinSwarm(t)
	// Placement: every node-i may run on this (only) swarm node.
	for i := range 5 {
		s.docker("node", "update", "--label-add", fmt.Sprintf("zshard.node-%d=true", i), nodeID)
	}

	file := filepath.Join(repoRoot(t), "deploy", "swarm", "zshard-stack.yml")
	t.Cleanup(s.remove)
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", "stack", "deploy", "--resolve-image", "never", "-c", file, s.name)
	cmd.Env = append(os.Environ(), "ZSHARD_IMAGE="+s.zshardImage, "CONSUL_IMAGE="+s.consulImage)
	deployed, err := cmd.CombinedOutput()
	require.NoError(t, err, "docker stack deploy:\n%s", deployed)
	t.Logf("stack %s deployed in %s (images %s and %s)", s.name, time.Since(t0).Round(100*time.Millisecond), s.zshardImage, s.consulImage)
	return s
}

// joinSwarm makes sure the engine is the manager of a single-node swarm and
// returns its node ID. An engine outside any swarm is made one, labelled as
// the test's, and left again when the test ends (with the docker_gwbridge
// network joining created, if there was none). An engine in a swarm is used
// only if it is a swarm this test made before (an interrupted run): the
// test will not deploy onto, or leave, a swarm somebody else runs.
func joinSwarm(t *testing.T) string {
	t.Helper()
	state, err := tryDocker("info", "--format", "{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}} {{.Swarm.ControlAvailable}} {{.Swarm.Nodes}}")
	require.NoError(t, err, state)
	f := strings.Fields(state)
	switch {
	case len(f) >= 1 && f[0] == "inactive":
		_, gwErr := tryDocker("network", "inspect", "docker_gwbridge")
		hadGateway := gwErr == nil
		out, err := tryDocker("swarm", "init")
		if err != nil && strings.Contains(out, "advertise") {
			// Several addresses: take the one of the default route.
			if addr := defaultRouteAddr(); addr != "" {
				out, err = tryDocker("swarm", "init", "--advertise-addr", addr)
			}
		}
		require.NoError(t, err, "docker swarm init:\n%s", out)
		t.Cleanup(func() { leaveSwarm(t, hadGateway) })
		id, err := tryDocker("info", "--format", "{{.Swarm.NodeID}}")
		require.NoError(t, err, id)
		_, err = tryDocker("node", "update", "--label-add", swarmOwnedLabel+"=1", id)
		require.NoError(t, err)
		t.Logf("made this engine a single-node swarm (node %s); it leaves the swarm afterwards", id)
		return id
	case len(f) == 4 && f[0] == "active" && f[2] == "true" && f[3] == "1":
		label, _ := tryDocker("node", "inspect", "--format", fmt.Sprintf("{{index .Spec.Labels %q}}", swarmOwnedLabel), f[1])
		if label == "1" {
			t.Logf("reusing the single-node swarm an earlier run made (node %s); it leaves the swarm afterwards", f[1])
			t.Cleanup(func() { leaveSwarm(t, false) })
			return f[1]
		}
	}
	t.Fatalf("this Docker engine is already in a swarm that the test did not make (%s: state, node, manager, nodes).\n"+
		"The test deploys only on an engine outside any swarm, makes it a single-node swarm and leaves it afterwards,\n"+
		"so it does not touch yours: run it on another engine (DOCKER_HOST=...), or deploy deploy/swarm/zshard-stack.yml\n"+
		"on your swarm by hand as docs/DEPLOY.md shows.", state)
	return ""
}

// defaultRouteAddr returns this host's source address for the default
// route, or "".
func defaultRouteAddr() string {
	out, err := exec.Command("ip", "-4", "route", "get", "1.1.1.1").Output()
	if err != nil {
		return ""
	}
	f := strings.Fields(string(out))
	for i := range len(f) - 1 {
		if f[i] == "src" {
			return f[i+1]
		}
	}
	return ""
}

// leaveSwarm leaves the swarm the test made, removes the docker_gwbridge
// network it brought along (unless one existed before), and checks that
// the engine is outside any swarm again.
func leaveSwarm(t *testing.T, hadGateway bool) {
	if out, err := tryDocker("swarm", "leave", "--force"); err != nil {
		t.Errorf("docker swarm leave: %v\n%s", err, out)
		return
	}
	if !hadGateway {
		// Its endpoints go a moment after the last container.
		var out string
		var err error
		for range 30 {
			if out, err = tryDocker("network", "rm", "docker_gwbridge"); err == nil || strings.Contains(out, "not found") {
				break
			}
			time.Sleep(time.Second)
		}
		if err != nil && !strings.Contains(out, "not found") {
			t.Errorf("removing docker_gwbridge (made by swarm init): %v\n%s", err, out)
		}
	}
	state, _ := tryDocker("info", "--format", "{{.Swarm.LocalNodeState}}")
	assert.Equal(t, "inactive", state, "the engine is outside any swarm again")
}

// service returns the Swarm service name of a stack service.
func (s *swarmStack) service(name string) string { return s.name + "_" + name }

// network returns the name of the stack's overlay network.
func (s *swarmStack) network() string { return s.name + "_cluster" }

func (s *swarmStack) docker(args ...string) string {
	s.t.Helper()
	out, err := tryDocker(args...)
	require.NoError(s.t, err, "docker %s:\n%s", strings.Join(args, " "), out)
	return out
}

// tryContainer returns the ID of the running container of a stack service
// (this engine is the swarm's only node, so every task runs here).
func (s *swarmStack) tryContainer(name string) (string, error) {
	out, err := tryDocker("ps", "-q", "--no-trunc", "--filter", "status=running",
		"--filter", "label=com.docker.swarm.service.name="+s.service(name))
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, out)
	}
	if ids := strings.Fields(out); len(ids) == 1 {
		return ids[0], nil
	}
	return "", fmt.Errorf("service %s has running containers %q, want one", name, out)
}

func (s *swarmStack) container(name string) string {
	s.t.Helper()
	id, err := s.tryContainer(name)
	require.NoError(s.t, err)
	return id
}

// run runs a one-shot container of the zshard image on the stack's
// network, as a user runs the producer, and returns its output.
func (s *swarmStack) run(timeout time.Duration, args ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{"run", "--rm", "--network", s.network(),
		"--label", "com.docker.stack.namespace=" + s.name,
		"-e", "CONSUL_HTTP_ADDR=consul:8500"}, args...)
	out, err := exec.CommandContext(ctx, "docker", full...).CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w after %s", ctx.Err(), timeout)
	}
	require.NoError(s.t, err, "docker %s:\n%s", strings.Join(full, " "), out)
	return string(out)
}

// producer runs client_producer with args on the stack's network.
func (s *swarmStack) producer(timeout time.Duration, args ...string) string {
	s.t.Helper()
	return s.run(timeout, append([]string{"--entrypoint", "client_producer", s.zshardImage}, args...)...)
}

// step runs TestSwarmStep (this test binary) on the stack's network and
// returns its output; members are the nodes that should be the cluster's.
func (s *swarmStack) step(step string, members []string) string {
	s.t.Helper()
	t0 := time.Now()
	out := s.run(12*time.Minute,
		"-v", s.self+":/usr/local/bin/zshard-e2e.test:ro",
		"-e", swarmStepEnv+"="+step,
		"-e", swarmNodesEnv+"="+strings.Join(members, " "),
		"--entrypoint", "zshard-e2e.test", s.zshardImage,
		"-test.run", "^TestSwarmStep$", "-test.v", "-test.count=1")
	s.t.Logf("step %s (%s) in the stack took %s:\n%s", step, strings.Join(members, " "),
		time.Since(t0).Round(100*time.Millisecond), indent(out))
	return out
}

// waitNodes waits until exactly the nodes of members pass in Consul, and
// checks that every one registered the address of its task's container on
// the overlay network, with its port 2000+i.
func (s *swarmStack) waitNodes(members []string) {
	s.t.Helper()
	// A restarted task may be refused registration while its predecessor's
	// check has not expired ("name taken") and exit, to be restarted again:
	// Consul can show the old registration passing meanwhile. So wait until
	// every member is registered under its running task's address.
	waitFor(s.t, "every node registered with its running task's overlay address", func() (bool, string) {
		reg := map[string]string{}
		for _, line := range strings.Split(s.step("wait", members), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "REGISTERED" {
				reg[f[1]] = f[2]
			}
		}
		for _, name := range members {
			i, err := strconv.Atoi(strings.TrimPrefix(name, "node-"))
			require.NoError(s.t, err)
			id, err := s.tryContainer(name)
			if err != nil {
				return false, err.Error()
			}
			format := fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}`, s.network())
			ip, err := tryDocker("inspect", "--format", format, id)
			if ip = strings.TrimSpace(ip); err != nil || ip == "" {
				return false, fmt.Sprintf("%s's task %.12s has no address on %s yet", name, id, s.network())
			}
			if want := fmt.Sprintf("tcp://%s:%d", ip, 2000+i); reg[name] != want {
				return false, fmt.Sprintf("%s registered as %q, its task is at %s", name, reg[name], want)
			}
		}
		return true, ""
	})
}

// remove removes the stack and then its volumes (docker stack rm leaves
// them), dumping the services' logs first if the test failed, and checks
// that no service, container, network or volume of the stack remains.
func (s *swarmStack) remove() {
	t := s.t
	if t.Failed() {
		for _, name := range []string{"consul", "node-0", "node-1", "node-2", "node-3", "node-4"} {
			if out, err := tryDocker("service", "logs", "--no-task-ids", "--tail", "30", s.service(name)); err == nil {
				t.Logf("service %s (last lines):\n%s", name, indent(out))
			}
		}
	}
	t0 := time.Now()
	if out, err := tryDocker("stack", "rm", s.name); err != nil {
		t.Errorf("docker stack rm: %v\n%s", err, out)
	}
	label := "label=com.docker.stack.namespace=" + s.name
	list := map[string][]string{
		"service":   {"service", "ls", "-q", "--filter", label},
		"container": {"ps", "-aq", "--filter", label},
		"network":   {"network", "ls", "-q", "--filter", label},
		"volume":    {"volume", "ls", "-q", "--filter", label},
	}
	left := func(kind string) []string {
		out, err := tryDocker(list[kind]...)
		if err != nil {
			return []string{"(" + out + ")"}
		}
		return strings.Fields(out)
	}
	// Tasks stop (each node up to its stop grace period) and their
	// containers go, then the network; only then can the volumes go.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && len(left("container"))+len(left("network")) > 0 {
		time.Sleep(time.Second)
	}
	for _, v := range left("volume") {
		if out, err := tryDocker("volume", "rm", v); err != nil {
			t.Errorf("docker volume rm %s: %v\n%s", v, err, out)
		}
	}
	t.Logf("stack %s and its volumes removed in %s", s.name, time.Since(t0).Round(100*time.Millisecond))
	for _, kind := range []string{"service", "container", "network", "volume"} {
		if l := left(kind); len(l) > 0 {
			t.Errorf("%ss of stack %s left behind: %v", kind, s.name, l)
		}
	}
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
