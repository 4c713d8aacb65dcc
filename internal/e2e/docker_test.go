//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/internal/metrics"
)

// The cluster of docker-compose.yml: one node per host container.
var nodes = []string{"node-0", "node-1", "node-2", "node-3"}

const (
	service    = "zshard" // the Consul service the nodes register under
	keysByNode = 200      // keys written to each node
	opTimeout  = 3 * time.Second
	// How long Consul may take to notice a change: the nodes' TTL is 5 s;
	// on a loaded two-core machine containers start slowly.
	settle = 90 * time.Second
)

// instance is what Consul says about one registered node.
type instance struct {
	name string
	rep  string // Meta rep: the request endpoint URL
	host string // Meta host: the supervisor's host
	// metrics is Meta metrics: the URL of the node's Prometheus endpoint.
	metrics string
	status  string // aggregated health: passing, warning or critical
}

// instances returns every registered instance of the service, passing or
// not, by name.
func instances(t *testing.T, cc *api.Client) map[string]instance {
	t.Helper()
	entries, _, err := cc.Health().Service(service, "", false, nil)
	require.NoError(t, err)
	out := map[string]instance{}
	for _, e := range entries {
		out[e.Service.ID] = instance{
			name: e.Service.ID, rep: e.Service.Meta["rep"], host: e.Service.Meta["host"],
			metrics: e.Service.Meta["metrics"], status: e.Checks.AggregatedStatus(),
		}
	}
	return out
}

// passing returns the sorted names of the passing instances.
func passing(in map[string]instance) []string {
	var out []string
	for _, i := range in {
		if i.status == api.HealthPassing {
			out = append(out, i.name)
		}
	}
	slices.Sort(out)
	return out
}

// waitFor polls cond (Consul state changes in seconds; a blocking query
// would not make this test any clearer) until it holds or settle passes.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	start := time.Now()
	last := ""
	for time.Since(start) < settle {
		ok, state := cond()
		if ok {
			t.Logf("%s after %s", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		last = state
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s: not reached within %s; last state: %s", what, settle, last)
}

func describe(in map[string]instance) string {
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(in)) {
		i := in[name]
		parts = append(parts, fmt.Sprintf("%s=%s@%s", name, i.status, i.rep))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// TestDockerCluster runs the compose cluster through node failures.
func TestDockerCluster(t *testing.T) {
	c := newCluster(t)
	cc := c.up()

	waitFor(t, "all nodes passing in Consul", func() (bool, string) {
		in := instances(t, cc)
		return slices.Equal(passing(in), nodes), describe(in)
	})

	// Every node runs in its own container and registers the container's
	// address on the project network (not 127.0.0.1), reachable from here
	// and from the other containers.
	containers := map[string]string{}
	checkAddresses := func() map[string]instance {
		t.Helper()
		in := instances(t, cc)
		for i, name := range nodes {
			ip := c.containerIP(containers[name])
			require.NotEmpty(t, ip, "%s has no address on the project network", name)
			assert.Equal(t, fmt.Sprintf("tcp://%s:%d", ip, 2000+i), in[name].rep,
				"%s must register its container address and port 2000+i", name)
			assert.Equal(t, name, in[name].host, "%s must run on its own host container", name)
		}
		return in
	}
	for _, name := range nodes {
		containers[name] = c.container(name)
	}
	reg := checkAddresses()

	// The initial signals are targeted at each node's own host.
	for _, name := range nodes {
		kv, _, err := cc.KV().Get("zshard/nodes/"+name, nil)
		require.NoError(t, err)
		require.NotNil(t, kv, "no add signal for %s", name)
		assert.JSONEq(t, fmt.Sprintf(`{"state":"up","host":%q}`, name), string(kv.Value))
	}

	// Load: keysByNode keys on every node, written straight to its request
	// endpoint with the class-lab JSON (placement is the producer's job and
	// is exercised by its own tests).
	key := func(node string, i int) string { return fmt.Sprintf("%s/key-%04d", node, i) }
	value := func(node string, i int) string { return fmt.Sprintf("value %d of %s", i, node) }
	t0 := time.Now()
	for _, name := range nodes {
		for i := range keysByNode {
			require.NoError(t, put(reg[name].rep, key(name, i), value(name, i), opTimeout))
		}
	}
	t.Logf("wrote %d keys in %s", keysByNode*len(nodes), time.Since(t0).Round(time.Millisecond))
	readAll := func(t *testing.T, name string) {
		t.Helper()
		for i := range keysByNode {
			v, found, err := get(reg[name].rep, key(name, i), opTimeout)
			require.NoError(t, err, "reading from %s", name)
			require.True(t, found, "%s lost %s", name, key(name, i))
			require.Equal(t, value(name, i), v)
		}
	}
	for _, name := range nodes {
		readAll(t, name)
	}

	t.Run("metrics", func(t *testing.T) {
		// Every node serves /metrics on 2200+i of its container address,
		// registered as Meta metrics, and each supervisor on 2300.
		for i, name := range nodes {
			ip := c.containerIP(containers[name])
			url := reg[name].metrics
			require.Equal(t, fmt.Sprintf("http://%s:%d/metrics", ip, 2200+i), url, "%s Meta metrics", name)
			f := scrapeMetrics(t, url)
			assert.EqualValues(t, keysByNode, f.Sum("zshard_keys"), "%s keys", name)
			assert.GreaterOrEqual(t, f.Sum("zshard_ops_total", "op", "PUT", "endpoint", "request"), float64(keysByNode), "%s PUTs", name)
			assert.GreaterOrEqual(t, f.Sum("zshard_ops_total", "op", "GET_ONE", "endpoint", "request"), float64(keysByNode), "%s GET_ONEs", name)
			assert.NotEmpty(t, f.Histogram("zshard_request_duration_seconds", "op", "PUT").Buckets, "%s durations", name)
			sup := scrapeMetrics(t, fmt.Sprintf("http://%s:2300/metrics", ip))
			assert.EqualValues(t, 1, sup.Sum("zshard_supervisor_node_running", "node", name), "%s supervisor", name)
		}
	})

	t.Run("producer container", func(t *testing.T) {
		// The producer service runs on the project network with
		// CONSUL_HTTP_ADDR=consul:8500.
		help := c.compose(2*time.Minute, "run", "--rm", "--no-deps", "producer", "--help")
		require.Contains(t, help, "client_producer")
		for _, sub := range []string{"status", "put", "get", "bench"} {
			if !strings.Contains(help, "\n  "+sub+" ") {
				t.Logf("TODO: client_producer %s is not there yet; the producer-driven steps use it once it exists", sub)
			}
		}
		if strings.Contains(help, "\n  status ") {
			out := c.compose(2*time.Minute, "run", "--rm", "--no-deps", "producer", "status")
			for _, name := range nodes {
				assert.Contains(t, out, name, "producer status should list %s", name)
			}
		}
	})

	// Faults: node-1's container is stopped (its supervisor stops the node,
	// which deregisters), node-2's is frozen, node-3's is cut off the network.
	// node-0 must keep serving and Consul must pass only node-0.
	netName := c.network()
	ipBefore := c.containerIP(containers["node-3"])
	t0 = time.Now()
	c.docker("stop", containers["node-1"])
	t.Logf("docker stop node-1 took %s", time.Since(t0).Round(100*time.Millisecond))
	c.docker("pause", containers["node-2"])
	c.docker("network", "disconnect", netName, containers["node-3"])

	waitFor(t, "only node-0 passing", func() (bool, string) {
		in := instances(t, cc)
		return slices.Equal(passing(in), []string{"node-0"}), describe(in)
	})
	waitFor(t, "node-2 and node-3 critical, node-1 deregistered or critical", func() (bool, string) {
		in := instances(t, cc)
		n1, registered := in["node-1"]
		ok := in["node-2"].status == api.HealthCritical && in["node-3"].status == api.HealthCritical &&
			(!registered || n1.status == api.HealthCritical)
		return ok, describe(in)
	})
	if in := instances(t, cc); in["node-1"].name == "" {
		t.Log("node-1 deregistered on docker stop (graceful shutdown)")
	} else {
		t.Logf("node-1 is %s after docker stop", in["node-1"].status)
	}
	readAll(t, "node-0")
	_, _, err := get(reg["node-2"].rep, key("node-2", 0), time.Second)
	assert.Error(t, err, "a paused node must not answer")

	// Restore: reconnect node-3 with its old address (a network blip: its
	// connections to Consul must recover), unpause node-2, start node-1.
	// node-3 goes first: the restarted node-1 could take its free address.
	c.docker("network", "connect", "--ip", ipBefore, netName, containers["node-3"])
	c.docker("unpause", containers["node-2"])
	c.docker("start", containers["node-1"])
	waitFor(t, "all nodes passing again", func() (bool, string) {
		in := instances(t, cc)
		return slices.Equal(passing(in), nodes), describe(in)
	})
	// node-1 restarted and may have a new address: its registration must
	// follow the container.
	waitFor(t, "registered addresses match the containers", func() (bool, string) {
		in := instances(t, cc)
		var bad []string
		for i, name := range nodes {
			want := fmt.Sprintf("tcp://%s:%d", c.containerIP(containers[name]), 2000+i)
			if in[name].rep != want {
				bad = append(bad, fmt.Sprintf("%s registered %s, container is at %s", name, in[name].rep, want))
			}
		}
		return len(bad) == 0, strings.Join(bad, "; ")
	})
	reg = checkAddresses()
	readAll(t, "node-0")
	readAll(t, "node-2") // paused, not restarted: keeps its data
	readAll(t, "node-3") // cut off, not restarted: keeps its data
	// node-1's container was restarted: its node starts empty (the store is
	// in memory). Without replication its keys are gone; with R=2 the
	// producer would read them from the replicas (see below).
	_, found, err := get(reg["node-1"].rep, key("node-1", 0), opTimeout)
	require.NoError(t, err, "node-1 must answer after its restart")
	assert.False(t, found, "a restarted node starts with an empty in-memory store")

	// A container that comes back on the network with another address: a
	// passing node must be reachable where Consul says it is.
	t.Run("node follows an address change", func(t *testing.T) {
		newIP := c.ipInSubnet(200)
		c.docker("network", "disconnect", netName, containers["node-3"])
		waitFor(t, "node-3 critical", func() (bool, string) {
			in := instances(t, cc)
			return in["node-3"].status == api.HealthCritical, describe(in)
		})
		c.docker("network", "connect", "--ip", newIP, netName, containers["node-3"])
		want := fmt.Sprintf("tcp://%s:2003", newIP)
		waitFor(t, "node-3 passing at its new address "+newIP, func() (bool, string) {
			in := instances(t, cc)
			return in["node-3"].status == api.HealthPassing && in["node-3"].rep == want, describe(in)
		})
		reg["node-3"] = instances(t, cc)["node-3"]
		readAll(t, "node-3")
	})
	// Adding and removing nodes with rebalancing: TestDockerRebalance.
}

// scrapeMetrics reads a /metrics endpoint with the Prometheus text parser.
func scrapeMetrics(t *testing.T, url string) metrics.Families {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f, err := metrics.Scrape(ctx, http.DefaultClient, url)
	require.NoError(t, err, url)
	return f
}
