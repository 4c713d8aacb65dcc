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
	"github.com/zshard/zshard/internal/noderun"
	"github.com/zshard/zshard/internal/proc"
)

// EnvProfile names the file a node process started by Run writes its CPU
// profile to.
const EnvProfile = "ZSHARD_BENCH_NODE_PROFILE"

// RunNode runs one node registered in Consul under cc's service (nowhere
// when cc is nil) until ctx is done or stdin closes (the parent went away),
// on the storage st. It prints the node runtime's READY line once the node
// is registered. It is the body of the hidden `client_producer bench-node`.
func RunNode(ctx context.Context, cc *consul.Config, name string, st NodeStorage, stdin io.Reader, stdout io.Writer) error {
	stopProfile, err := startNodeProfile()
	if err != nil {
		return err
	}
	defer stopProfile()
	s, err := startNode(ctx, cc, name, st, stdout)
	if err != nil {
		return err
	}
	defer s.Stop()
	eof := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, stdin); close(eof) }()
	select {
	case <-ctx.Done():
	case <-eof:
	}
	return nil
}

// startNodeProfile starts the CPU profile EnvProfile names, if it names
// one; the returned function stops it.
func startNodeProfile() (func(), error) {
	f := os.Getenv(EnvProfile)
	if f == "" {
		return func() {}, nil
	}
	out, err := os.Create(f)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		_ = out.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); _ = out.Close() }, nil
}

// startNode starts the node name on the node runtime, registered in cc's
// service with the runtime's health check (the node answers its own PING),
// or registered nowhere when cc is nil. ready, when not nil, receives the
// runtime's READY line.
func startNode(ctx context.Context, cc *consul.Config, name string, st NodeStorage, ready io.Writer) (*noderun.Server, error) {
	cfg, err := st.runConfig(name)
	if err != nil {
		return nil, err
	}
	if cc != nil {
		if cfg.Consul, err = consul.New(*cc); err != nil {
			return nil, err
		}
	}
	cfg.Ready = ready
	return noderun.Start(ctx, cfg)
}

// cluster is the set of nodes of one measured run.
type cluster struct {
	stops []func()
	// members are the nodes' names and endpoints, for a static producer.
	members []consul.Member
	// procs are the node processes; none when the nodes run in this process.
	procs []*proc.Process
}

func (c *cluster) stop() {
	for _, s := range c.stops {
		s()
	}
	c.stops = nil
}

// startNodes starts n nodes named bench-<pid>-node-0.. registered in cc's
// service (nowhere when cc is nil): as child processes running spawn +
// [--name NAME] when spawn is set, else in this process. The names are private to this run because a
// Consul agent keys services by ID across every service name: a bench node
// called node-0 would replace the user's node-0 of the real cluster.
func startNodes(ctx context.Context, cc *consul.Config, n int, spawn []string, profile string, st NodeStorage) (*cluster, error) {
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

// spawn starts the node name as a child process running spawn (RunNode)
// and waits for its READY line.
func (cl *cluster) spawn(cc *consul.Config, name string, spawn []string, profile string) error {
	args := append(append([]string{}, spawn[1:]...), "--name", name)
	if cc != nil {
		args = append(args, "--consul", cc.Addr, "--service", cc.Service)
	}
	var env []string // nil: this process's environment
	if profile != "" {
		env = append(os.Environ(), EnvProfile+"="+strings.ReplaceAll(profile, "NODE", name))
	}
	p, err := proc.Start(proc.Config{Path: spawn[0], Args: args, Env: env,
		PipeStdin: true, PipeStdout: true, Stderr: os.Stderr})
	if err != nil {
		return err
	}
	cl.procs = append(cl.procs, p)
	cl.stops = append(cl.stops, func() {
		_ = p.Stdin().Close() // the node exits at the end of its stdin
		_ = p.Stop(nil, nodeStopTimeout)
		_ = p.Stdout().Close()
	})
	line, err := bufio.NewReader(p.Stdout()).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 4 || f[0] != "READY" {
		return fmt.Errorf("node process did not start (%q, %v)", line, err)
	}
	cl.members = append(cl.members, consul.Member{Name: f[1], RepURL: f[2], PullURL: f[3], Ready: true})
	return nil
}

// inProcess starts the node name in this process.
func (cl *cluster) inProcess(ctx context.Context, cc *consul.Config, name string, st NodeStorage) error {
	s, err := startNode(ctx, cc, name, st, nil)
	if err != nil {
		return err
	}
	cl.stops = append(cl.stops, s.Stop)
	cl.members = append(cl.members, consul.Member{Name: name, RepURL: s.RequestEndpoint(), PullURL: s.IngestEndpoint(), Ready: true})
	return nil
}
