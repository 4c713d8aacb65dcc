package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	childproc "github.com/zshard/zshard/internal/proc"
)

// staticConfig configures --static mode.
type staticConfig struct {
	N               int
	BaseRequestPort int // node-i requests on BaseRequestPort+i
	BaseIngestPort  int // node-i ingest on BaseIngestPort+i
	BaseMetricsPort int // node-i metrics on BaseMetricsPort+i; 0: none
	NodeArgs        []string
	DataDir         string // node-i gets DataDir/node-i when set
	Logger          *slog.Logger
	Stdout, Stderr  io.Writer
	// StopTimeout is how long nodes get to exit after SIGTERM before they
	// are killed. Default 10s.
	StopTimeout time.Duration
}

type childExit struct {
	name string
	err  error
}

// runStatic runs node-0..node-{N-1} as child processes of this executable
// in node mode until ctx is done or one of them exits, then stops them all.
func runStatic(ctx context.Context, cfg staticConfig) error {
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("static: find own executable: %w", err)
	}
	sc := &staticCluster{cfg: cfg, exited: make(chan childExit, cfg.N)}
	result := sc.start(exe)
	if result == nil {
		result = sc.wait(ctx)
	}
	return sc.stop(result)
}

// staticCluster is the node processes of --static. Its methods are called
// from one goroutine; a goroutine per process reports its exit on exited.
type staticCluster struct {
	cfg     staticConfig
	running []staticNode
	exited  chan childExit
}

// staticNode is one running node process of --static.
type staticNode struct {
	name string
	p    *childproc.Process
}

// start starts node-0..node-{N-1}, stopping at the first that cannot be.
func (sc *staticCluster) start(exe string) error {
	cfg := sc.cfg
	for i := range cfg.N {
		name := "node-" + strconv.Itoa(i)
		args := append([]string{"node", "--name", name,
			"--rep-port", strconv.Itoa(cfg.BaseRequestPort + i),
			"--pull-port", strconv.Itoa(cfg.BaseIngestPort + i),
			"--metrics-port", strconv.Itoa(cfg.metricsPort(i))}, cfg.NodeArgs...)
		if cfg.DataDir != "" {
			args = append(args, "--data-dir", filepath.Join(cfg.DataDir, name))
		}
		p, err := childproc.Start(childproc.Config{Path: exe, Args: args, Stdout: cfg.Stdout, Stderr: cfg.Stderr,
			// If this process dies without stopping its nodes (kill -9),
			// the kernel sends them SIGTERM, so no orphan keeps its ports.
			DeathSignal: syscall.SIGTERM})
		if err != nil {
			return fmt.Errorf("static: start %s: %w", name, err)
		}
		sc.running = append(sc.running, staticNode{name: name, p: p})
		go func() { sc.exited <- childExit{name: name, err: p.Wait()} }()
	}
	return nil
}

// wait waits until ctx is done (nil) or a node exits (an error).
func (sc *staticCluster) wait(ctx context.Context) error {
	cfg := sc.cfg
	cfg.Logger.Info("static cluster started", "nodes", cfg.N,
		"request_ports", fmt.Sprintf("%d-%d", cfg.BaseRequestPort, cfg.BaseRequestPort+cfg.N-1),
		"ingest_ports", fmt.Sprintf("%d-%d", cfg.BaseIngestPort, cfg.BaseIngestPort+cfg.N-1))
	select {
	case <-ctx.Done():
		cfg.Logger.Info("stopping static cluster")
		return nil
	case e := <-sc.exited:
		sc.running = without(sc.running, e.name)
		cfg.Logger.Error("node exited; stopping the others", "node", e.name, "err", e.err)
		return fmt.Errorf("static: %s exited early: %v", e.name, e.err)
	}
}

// stop sends SIGTERM to every running node, waits for them and kills them
// all if they have not exited after the stop timeout. It returns result,
// else the first node's exit error, joined with the kill.
func (sc *staticCluster) stop(result error) error {
	for _, n := range sc.running {
		_ = n.p.Signal(syscall.SIGTERM)
	}
	deadline := time.After(sc.cfg.StopTimeout)
	for left := len(sc.running); left > 0; left-- {
		select {
		case e := <-sc.exited:
			if e.err != nil && result == nil {
				result = fmt.Errorf("static: %s: %w", e.name, e.err)
			}
		case <-deadline:
			sc.cfg.Logger.Error("nodes did not stop in time; killing them", "timeout", sc.cfg.StopTimeout)
			for _, n := range sc.running {
				_ = n.p.Kill()
			}
			for ; left > 0; left-- {
				<-sc.exited
			}
			return errors.Join(result, errors.New("static: nodes had to be killed"))
		}
	}
	return result
}

// without returns nodes without the one called name.
func without(nodes []staticNode, name string) []staticNode {
	out := nodes[:0]
	for _, n := range nodes {
		if n.name != name {
			out = append(out, n)
		}
	}
	return out
}

// metricsPort is node-i's metrics port; 0: none.
func (c staticConfig) metricsPort(i int) int {
	if c.BaseMetricsPort <= 0 {
		return 0
	}
	return c.BaseMetricsPort + i
}
