package grade

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zshard/zshard/internal/proc"
)

// server is a running instance of the student's server: `CMD N` under
// sh -c, in a process group of its own.
type server struct {
	p   *proc.Process
	out *tail
}

// start launches the server. extraEnv is added to the grader's environment.
func (g *grader) start(extraEnv ...string) (*server, error) {
	c := g.cfg
	line := c.ServerCmd + " " + strconv.Itoa(c.Nodes)
	out := &tail{w: c.ServerLog}
	env := append(os.Environ(),
		"ZSHARD_BASE_PORT="+strconv.Itoa(c.RepBase),
		"ZSHARD_BASE_PULL_PORT="+strconv.Itoa(c.PullBase))
	env = append(env, extraEnv...)
	p, err := proc.Start(proc.Config{
		Path: "/bin/sh", Args: []string{"-c", line}, Env: env,
		Stdout: out, Stderr: out,
		Group: true, DeathSignal: syscall.SIGKILL,
	})
	if err != nil {
		return nil, fmt.Errorf("grade: starting %q: %w", line, err)
	}
	fmt.Fprintf(c.Progress, "started %s (process group %d)\n", line, p.Pid())
	return &server{p: p, out: out}, nil
}

// stop ends the server's whole process group: SIGTERM, then SIGKILL after
// grace, and SIGKILL again to what outlived the group's leader (a node
// process that ignored SIGTERM). The group's ID cannot have been reused:
// Linux gives no new process the ID of a group that still has members.
func (s *server) stop(grace time.Duration) {
	_ = s.p.Stop(syscall.SIGTERM, grace)
	_ = syscall.Kill(-s.p.Pid(), syscall.SIGKILL)
}

// exited says whether the server's first process has exited, and how.
func (s *server) exited() (bool, string) {
	select {
	case <-s.p.Done():
		err := s.p.Wait()
		if err == nil {
			return true, "the server exited with status 0"
		}
		return true, "the server exited: " + err.Error()
	default:
		return false, ""
	}
}

// staticRep and staticPull are node i's endpoints by the port rule:
// RepBase+i and PullBase+i.
func (g *grader) staticRep(i int) string {
	return "tcp://" + net.JoinHostPort(g.cfg.Host, strconv.Itoa(g.cfg.RepBase+i))
}

func (g *grader) staticPull(i int) string {
	return "tcp://" + net.JoinHostPort(g.cfg.Host, strconv.Itoa(g.cfg.PullBase+i))
}

// repEndpoint and pullEndpoint are node i's endpoints in the running
// server: by the port rule, or as the node registered them in Consul.
func (g *grader) repEndpoint(i int) string  { return g.reps[i] }
func (g *grader) pullEndpoint(i int) string { return g.pulls[i] }

// startNodes starts the server for phase 1 or 2 and records its start
// check: without Consul, every node listens on its ports; with Consul (the
// server reads its membership from it), every node registers, and the
// endpoints come from the registrations. It returns nil if they do not.
func (g *grader) startNodes(ctx context.Context) (*server, error) {
	if !g.cfg.Consul {
		g.reps, g.pulls = nil, nil
		for i := range g.cfg.Nodes {
			g.reps = append(g.reps, g.staticRep(i))
			g.pulls = append(g.pulls, g.staticPull(i))
		}
		return g.startStatic(ctx)
	}
	s, ins, err := g.startConsul(ctx, CheckStart)
	if s == nil || err != nil {
		return nil, err
	}
	g.reps, g.pulls = make([]string, g.cfg.Nodes), make([]string, g.cfg.Nodes)
	for _, in := range ins {
		i, _ := nodeIndex(in.name) // startConsul waited for node-0 .. node-(N-1)
		g.reps[i], g.pulls[i] = in.rep, in.pull
	}
	return s, nil
}

// waitListening waits until every address accepts TCP connections, the
// server exits, or the start timeout passes; it returns the addresses that
// never did.
func (g *grader) waitListening(ctx context.Context, s *server, addrs []string) []string {
	ctx, cancel := context.WithTimeout(ctx, g.cfg.StartTimeout)
	defer cancel()
	missing := addrs
	for {
		var still []string
		for _, a := range missing {
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				still = append(still, a)
				continue
			}
			c.Close()
		}
		missing = still
		if len(missing) == 0 {
			return nil
		}
		if done, _ := s.exited(); done {
			return missing
		}
		select {
		case <-ctx.Done():
			return missing
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// listening says whether addr accepts TCP connections.
func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// hostPort turns tcp://host:port into host:port.
func hostPort(endpoint string) string { return strings.TrimPrefix(endpoint, "tcp://") }

// startStatic starts the server without Consul and records the check that
// every node listens. It returns nil if they do not.
func (g *grader) startStatic(ctx context.Context) (*server, error) {
	s, err := g.start()
	if err != nil {
		return nil, err
	}
	var addrs []string
	for i := range g.cfg.Nodes {
		addrs = append(addrs, hostPort(g.repEndpoint(i)), hostPort(g.pullEndpoint(i)))
	}
	missing := g.waitListening(ctx, s, addrs)
	want := fmt.Sprintf("`%s %d` listens on %s .. %s", g.cfg.ServerCmd, g.cfg.Nodes, addrs[0], addrs[len(addrs)-1])
	if len(missing) > 0 {
		got := "nothing listens on " + strings.Join(missing, ", ")
		if done, how := s.exited(); done {
			got += "; " + how
		}
		if t := s.out.String(); t != "" {
			got += "; last output: " + t
		}
		g.record("start", false, want, got)
		s.stop(5 * time.Second)
		return nil, nil
	}
	g.record("start", true, want, fmt.Sprintf("%d nodes listening", g.cfg.Nodes))
	return s, nil
}

// tail passes output on to w and keeps its last lines for error reports.
type tail struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

const tailBytes = 600

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailBytes {
		t.buf = t.buf[len(t.buf)-tailBytes:]
	}
	_, _ = t.w.Write(p)
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}
