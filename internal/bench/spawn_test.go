package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/protocol"
)

// envRole makes the test binary play a child process of Run: "node"
// (RunNode, as `client_producer bench-node`) or "echo" (RunEcho, as
// `client_producer bench-echo`).
const envRole = "ZSHARD_BENCH_TEST_ROLE"

func TestMain(m *testing.M) {
	switch os.Getenv(envRole) {
	case "node":
		os.Exit(playNode(os.Args[1:]))
	case "echo":
		if err := RunEcho(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// playNode parses the flags Run gives a node process, as bench-node does,
// and runs the node.
func playNode(args []string) int {
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	addr := fs.String("consul", "", "")
	service := fs.String("service", "", "")
	name := fs.String("name", "", "")
	var st NodeStorage
	fs.StringVar(&st.DataRoot, "data-root", "", "")
	fs.StringVar(&st.Sync, "sync", "always", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var cc *consul.Config
	if *addr != "" {
		cc = &consul.Config{Addr: *addr, Service: *service, Prefix: *service + "/"}
	}
	if err := RunNode(context.Background(), cc, *name, st, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestRunNodeProcesses runs the benchmark with its nodes and its echo as
// child processes (the test binary in their roles), in memory and durable:
// every key is answered by nodes registered with the runtime's health check.
func TestRunNodeProcesses(t *testing.T) {
	res := runBench(t, Config{
		Keys: 2000, Nodes: 2, Replicas: 1, LatencyOps: 100,
		Algorithms: []string{"hrw"}, Codecs: []protocol.Codec{protocol.Msgpack},
		Storage:   []string{StorageMemory, "batch"},
		Spawn:     []string{"/usr/bin/env", envRole + "=node", os.Args[0]},
		SpawnEcho: []string{"/usr/bin/env", envRole + "=echo", os.Args[0]},
	})
	require.Equal(t, "processes", res.NodeMode)
	require.Len(t, res.Runs, 2)
	for _, r := range res.Runs {
		require.Zero(t, r.Errors, r.Storage)
		require.Equal(t, int64(2000*2), storedKeys(r), "%s: every key on R+1 nodes", r.Storage)
		require.Equal(t, 100, r.Echo.Ops, r.Storage)
		for _, phase := range []Throughput{r.BulkPut, r.AckPut, r.PipeGet} {
			require.NotNil(t, phase.CPUCost, r.Storage)
			require.Contains(t, phase.ByProcess, "nodes", r.Storage) // read in clock ticks: may be 0 on so few keys
			require.Positive(t, phase.ByProcess["producer"], r.Storage)
			require.InDelta(t, phase.ByProcess["nodes"]+phase.ByProcess["producer"], phase.CPUSeconds, 1e-9, r.Storage)
		}
	}
}

// TestRunStatic runs the benchmark without Consul: in-process nodes and
// node processes registered nowhere, the producer routing to them as a
// static cluster.
func TestRunStatic(t *testing.T) {
	for _, spawn := range [][]string{nil, {"/usr/bin/env", envRole + "=node", os.Args[0]}} {
		t.Run(fmt.Sprintf("processes=%v", spawn != nil), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := Run(ctx, Config{
				Static: true, Consul: consul.Config{Addr: "127.0.0.1:1"}, // never dialled
				Keys: 2000, Nodes: 3, Replicas: 1, LatencyOps: 100,
				Algorithms: []string{"hrw"}, Codecs: []protocol.Codec{protocol.Msgpack}, Spawn: spawn,
			})
			require.NoError(t, err)
			require.Len(t, res.Runs, 1)
			r := res.Runs[0]
			require.Zero(t, r.Errors)
			require.Len(t, r.KeysPerNode, 3)
			require.Equal(t, int64(2000*2), storedKeys(r), "every key on R+1 nodes")
		})
	}
}
