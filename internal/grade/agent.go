package grade

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/zshard/zshard/internal/proc"
)

// agent is the grader's private Consul agent: a dev agent on free loopback
// ports, its process group killed at the end.
type agent struct {
	addr string // HTTP address, host:port
	api  *api.Client
	p    *proc.Process
	out  *tail
}

// startAgent starts a Consul dev agent from bin and waits until it has a
// leader and serves KV reads.
func startAgent(ctx context.Context, bin string, timeout time.Duration) (*agent, error) {
	ports, err := proc.FreePorts(3)
	if err != nil {
		return nil, err
	}
	a := &agent{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])), out: &tail{w: io.Discard}}
	args := []string{"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", "zshard-grade-" + strconv.Itoa(ports[0]),
		"-http-port", strconv.Itoa(ports[0]),
		"-serf-lan-port", strconv.Itoa(ports[1]),
		"-server-port", strconv.Itoa(ports[2]),
		"-serf-wan-port", "-1", "-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1",
	}
	cfg := api.DefaultConfig()
	cfg.Address = a.addr
	if a.api, err = api.NewClient(cfg); err != nil {
		return nil, err
	}
	a.p, err = proc.Start(proc.Config{Path: bin, Args: args, Stdout: a.out, Stderr: a.out,
		Group: true, DeathSignal: syscall.SIGKILL})
	if err != nil {
		return nil, fmt.Errorf("grade: starting the Consul agent %s: %w", bin, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		leader, err := a.api.Status().Leader()
		if err == nil && leader != "" {
			if _, _, err = a.api.KV().Get("zshard/.ready", nil); err == nil {
				return a, nil
			}
		}
		select {
		case <-a.p.Done():
			return nil, fmt.Errorf("grade: the Consul agent exited: %s", a.out.String())
		case <-ctx.Done():
			a.stop()
			return nil, fmt.Errorf("grade: the Consul agent at %s had no leader within %v: %s", a.addr, timeout, a.out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (a *agent) stop() { _ = a.p.Stop(syscall.SIGINT, 10*time.Second) }
