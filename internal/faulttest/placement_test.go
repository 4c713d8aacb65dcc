package faulttest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// keyOwnedBy returns a key whose owner (first replica, reported by put) is
// node, writing value to it.
func (c *cluster) keyOwnedBy(node, value string, flags ...string) string {
	c.t.Helper()
	for i := range 200 {
		key := fmt.Sprintf("k-%s-%d", node, i)
		if c.put(key, value, flags...)[0] == node {
			return key
		}
	}
	c.t.Fatalf("no key owned by %s in 200 tries", node)
	return ""
}

// getall returns the keys of `getall --json` with their values, and how
// many times each key was listed.
func (c *cluster) getall(flags ...string) (map[string]string, map[string]int) {
	c.t.Helper()
	var all struct {
		Collection []struct {
			Key   string
			Value json.RawMessage
		}
	}
	require.NoError(c.t, json.Unmarshal([]byte(c.ok(append(flags, "--json", "getall")...)), &all))
	vals, seen := map[string]string{}, map[string]int{}
	for _, e := range all.Collection {
		vals[e.Key] = string(e.Value)
		seen[e.Key]++
	}
	return vals, seen
}

// TestOwnerDownR0 is the default configuration (R=0) with a key's owner
// stopped: reads and writes of its keys are unavailable (never "not found"
// from a node that is not the key's), other keys are served, and once the
// owner is back the last acknowledged value is read and listed once.
func TestOwnerDownR0(t *testing.T) {
	c := startCluster(t, 2)
	key := c.keyOwnedBy("node-0", "1")
	other := c.keyOwnedBy("node-1", "x")

	c.signal("node-0", syscall.SIGSTOP)
	r := c.cli("get", key)
	require.NotZero(t, r.code, "get of a key whose owner is down succeeded: %s", r.out)
	require.Contains(t, r.err, "unavailable")
	require.Contains(t, r.err, "node-0: down")
	require.NotContains(t, r.err, "not found")

	r = c.cli("put", key, "3")
	require.NotZero(t, r.code, "put of a key whose owner is down was acknowledged: %s", r.out)
	require.Contains(t, r.err, "unavailable")
	require.Contains(t, r.err, "node-0: down")

	// The other node's keys are still served.
	c.put(other, "y")
	require.Equal(t, "y\n", c.ok("get", other))

	// status shows the stopped member as down, not as absent.
	r = c.cli("status")
	require.NotZero(t, r.code)
	require.Regexp(t, `node-0\s+DOWN`, r.out)

	c.signal("node-0", syscall.SIGCONT)
	require.Equal(t, "1\n", c.ok("get", key))
	vals, seen := c.getall()
	require.Equal(t, `"1"`, vals[key])
	require.Equal(t, 1, seen[key])
	require.Equal(t, `"y"`, vals[other])
}

// TestReplicaDownR2 writes at the default consistency (quorum: 2 of 3)
// while one node is stopped: every write is acknowledged, none goes to a
// node that is not one of its key's replicas, and every key reads back
// during the outage and after.
func TestReplicaDownR2(t *testing.T) {
	c := startCluster(t, 4)
	c.put("seed", "0", "-R", "2")
	c.signal("node-1", syscall.SIGSTOP)
	var onDown []string
	for i := range 40 {
		key := fmt.Sprintf("r2-%d", i)
		reps := c.put(key, fmt.Sprint(i))
		require.Len(t, reps, 3, "%s has %v", key, reps)
		if slices.Contains(reps, "node-1") {
			onDown = append(onDown, key)
		}
		require.Equal(t, fmt.Sprintln(i), c.ok("get", key))
	}
	require.NotEmpty(t, onDown, "no key had the stopped node among its replicas")
	// All is too strict while a replica is down.
	r := c.cli("--consistency", "all", "put", onDown[0], "z")
	require.NotZero(t, r.code)
	require.Contains(t, r.err, "node-1: down")

	c.signal("node-1", syscall.SIGCONT)
	for i := range 40 {
		require.Equal(t, fmt.Sprintln(i), c.ok("get", fmt.Sprintf("r2-%d", i)))
	}
	vals, seen := c.getall()
	for i := range 40 {
		key := fmt.Sprintf("r2-%d", i)
		require.Equal(t, fmt.Sprintf("%q", fmt.Sprint(i)), vals[key])
		require.Equal(t, 1, seen[key])
	}
}

// TestLegacyClusterUpgraded starts from settings an older producer wrote
// (no members recorded): the first producer records the intended members,
// and from then on a stopped node's keys stay its own.
func TestLegacyClusterUpgraded(t *testing.T) {
	c := startCluster(t, 3)
	old := `{"algorithm":"hrw","partitions":4096,"replicas":0,"epoch":0}`
	_, err := c.agent.Client.KV().Put(kvPair("zshard/cluster", old), nil)
	require.NoError(t, err)
	c.ok("status")
	s, _, err := c.cc.Settings(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"node-0", "node-1", "node-2"}, s.Members)
	require.Equal(t, "hrw", s.Algorithm)

	key := c.keyOwnedBy("node-2", "v")
	c.signal("node-2", syscall.SIGSTOP)
	r := c.cli("put", key, "w")
	require.NotZero(t, r.code)
	require.Contains(t, r.err, "node-2: down")
	s, _, err = c.cc.Settings(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"node-0", "node-1", "node-2"}, s.Members, "a failure changed the layout")
	c.signal("node-2", syscall.SIGCONT)
	require.Equal(t, "v\n", c.ok("get", key))
}

// TestRemoveDeadNode declares a stopped node gone for good at R=1: its
// partitions are copied from their other replicas, nothing is lost, and the
// supervisor stops the node.
func TestRemoveDeadNode(t *testing.T) {
	c := startCluster(t, 3)
	want := map[string]string{}
	for i := range 60 {
		key := fmt.Sprintf("d-%d", i)
		c.put(key, fmt.Sprint(i), "-R", "1")
		want[key] = fmt.Sprintf("%q", fmt.Sprint(i))
	}
	c.signal("node-2", syscall.SIGSTOP)

	r := c.cli("remove-node", "node-2")
	require.NotZero(t, r.code, "a down node was removed without --dead")
	require.Contains(t, r.err, "--dead")

	out := c.ok("remove-node", "--quiet", "--grace", "200ms", "node-2", "--dead")
	require.NotContains(t, out, "lost")
	s, _, err := c.cc.Settings(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"node-0", "node-1"}, s.Members)
	require.Nil(t, s.Migration)
	vals, seen := c.getall()
	for k, v := range want {
		require.Equal(t, v, vals[k], k)
		require.Equal(t, 1, seen[k], k)
	}
	// A node that passes is not declared dead. (On a starved machine its
	// health check may lapse meanwhile: then the command is right to go on,
	// and the check is skipped.)
	c.waitPassing(2)
	r = c.cli("remove-node", "node-0", "--dead")
	if c.passing("node-0") && r.code == 0 {
		t.Fatalf("a passing node was removed as dead: %s%s", r.out, r.err)
	}
	if r.code != 0 {
		require.True(t, strings.Contains(r.err, "passes its health check"), r.err)
	}
}
