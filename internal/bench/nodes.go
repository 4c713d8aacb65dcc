package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/proc"
)

// EnvProfile names the file a node process started by Run writes its CPU
// profile to.
const EnvProfile = "ZSHARD_BENCH_NODE_PROFILE"

// RunNode runs one node registered in Consul under cc's service until ctx is
// done or stdin closes (the parent went away), on the storage st. It prints
// READY once it is registered. It is the body of the hidden
// `client_producer bench-node`.
func RunNode(ctx context.Context, cc consul.Config, name string, st NodeStorage, stdin io.Reader, stdout io.Writer) error {
	if f := os.Getenv(EnvProfile); f != "" {
		out, err := os.Create(f)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); _ = out.Close() }()
	}
	ncfg, ds, err := st.nodeConfig(name)
	if err != nil {
		return err
	}
	if ds != nil {
		defer ds.Close()
	}
	n, err := node.New(ncfg)
	if err != nil {
		return err
	}
	if err := n.Start(); err != nil {
		return err
	}
	defer n.Close()
	c, err := consul.New(cc)
	if err != nil {
		return err
	}
	reg, err := c.Register(ctx, consul.Registration{Name: name, RepURL: n.RequestEndpoint(), PullURL: n.IngestEndpoint()})
	if err != nil {
		return err
	}
	defer reg.Deregister(context.Background())
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go reg.Run(rctx, func() error { return nil })
	fmt.Fprintln(stdout, "READY")
	eof := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, stdin); close(eof) }()
	select {
	case <-ctx.Done():
	case <-eof:
	}
	return nil
}

// cluster is the set of nodes of one measured run.
type cluster struct {
	stops []func()
}

func (c *cluster) stop() {
	for _, s := range c.stops {
		s()
	}
	c.stops = nil
}

// startNodes starts n nodes named bench-<pid>-node-0.. registered in cc's
// service: as child processes running spawn + [--name NAME] when spawn is
// set, else in this process. The names are private to this run because a
// Consul agent keys services by ID across every service name: a bench node
// called node-0 would replace the user's node-0 of the real cluster.
func startNodes(ctx context.Context, cc consul.Config, n int, spawn []string, profile string, st NodeStorage) (*cluster, error) {
	cl := &cluster{}
	for i := range n {
		name := fmt.Sprintf("bench-%d-node-%d", os.Getpid(), i)
		var err error
		if len(spawn) > 0 {
			err = cl.spawn(cc, name, append(slices.Clone(spawn), st.args()...), profile)
		} else {
			err = cl.inProcess(ctx, cc, name, st)
		}
		if err != nil {
			cl.stop()
			return nil, fmt.Errorf("start %s: %w", name, err)
		}
	}
	return cl, nil
}

// nodeStopTimeout is how long a node process gets to exit once its stdin
// is closed before it is killed.
const nodeStopTimeout = 10 * time.Second

func (cl *cluster) spawn(cc consul.Config, name string, spawn []string, profile string) error {
	args := append(append([]string{}, spawn[1:]...), "--consul", cc.Addr, "--service", cc.Service, "--name", name)
	var env []string // nil: this process's environment
	if profile != "" {
		env = append(os.Environ(), EnvProfile+"="+strings.ReplaceAll(profile, "NODE", name))
	}
	p, err := proc.Start(proc.Config{Path: spawn[0], Args: args, Env: env,
		PipeStdin: true, PipeStdout: true, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	cl.stops = append(cl.stops, func() {
		_ = p.Stdin().Close() // the node exits at the end of its stdin
		_ = p.Stop(nil, nodeStopTimeout)
		_ = p.Stdout().Close()
	})
	line, err := bufio.NewReader(p.Stdout()).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "READY" {
		return fmt.Errorf("node process did not start (%q, %v)", line, err)
	}
	return nil
}

func (cl *cluster) inProcess(ctx context.Context, cc consul.Config, name string, st NodeStorage) error {
	ncfg, ds, err := st.nodeConfig(name)
	if err != nil {
		return err
	}
	closeStore := func() {
		if ds != nil {
			_ = ds.Close()
		}
	}
	n, err := node.New(ncfg)
	if err != nil {
		closeStore()
		return err
	}
	if err := n.Start(); err != nil {
		closeStore()
		return err
	}
	c, err := consul.New(cc)
	if err != nil {
		_ = n.Close()
		closeStore()
		return err
	}
	reg, err := c.Register(ctx, consul.Registration{Name: name, RepURL: n.RequestEndpoint(), PullURL: n.IngestEndpoint()})
	if err != nil {
		_ = n.Close()
		closeStore()
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); reg.Run(rctx, func() error { return nil }) }()
	cl.stops = append(cl.stops, func() {
		cancel()
		<-done
		_ = reg.Deregister(context.Background())
		_ = n.Close()
		closeStore()
	})
	return nil
}
