package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// staticConfig configures --static mode.
type staticConfig struct {
	N               int
	BaseRequestPort int // node-i requests on BaseRequestPort+i
	BaseIngestPort  int // node-i ingest on BaseIngestPort+i
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
	var running []*exec.Cmd
	exited := make(chan childExit, cfg.N)
	var startErr error
	for i := range cfg.N {
		name := "node-" + strconv.Itoa(i)
		args := append([]string{"node", "--name", name,
			"--rep-port", strconv.Itoa(cfg.BaseRequestPort + i),
			"--pull-port", strconv.Itoa(cfg.BaseIngestPort + i)}, cfg.NodeArgs...)
		if cfg.DataDir != "" {
			args = append(args, "--data-dir", filepath.Join(cfg.DataDir, name))
		}
		cmd := exec.Command(exe, args...)
		cmd.Stdout, cmd.Stderr = cfg.Stdout, cfg.Stderr
		setChildAttrs(cmd)
		if err := cmd.Start(); err != nil {
			startErr = fmt.Errorf("static: start %s: %w", name, err)
			break
		}
		running = append(running, cmd)
		go func() { exited <- childExit{name: name, err: cmd.Wait()} }()
	}
	var result error
	if startErr != nil {
		result = startErr
	} else {
		cfg.Logger.Info("static cluster started", "nodes", cfg.N,
			"request_ports", fmt.Sprintf("%d-%d", cfg.BaseRequestPort, cfg.BaseRequestPort+cfg.N-1),
			"ingest_ports", fmt.Sprintf("%d-%d", cfg.BaseIngestPort, cfg.BaseIngestPort+cfg.N-1))
		select {
		case <-ctx.Done():
			cfg.Logger.Info("stopping static cluster")
		case e := <-exited:
			result = fmt.Errorf("static: %s exited early: %v", e.name, e.err)
			running = without(running, e.name)
			cfg.Logger.Error("node exited; stopping the others", "node", e.name, "err", e.err)
		}
	}
	for _, cmd := range running {
		_ = cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(cfg.StopTimeout)
	for left := len(running); left > 0; left-- {
		select {
		case e := <-exited:
			if e.err != nil && result == nil {
				result = fmt.Errorf("static: %s: %w", e.name, e.err)
			}
		case <-deadline:
			cfg.Logger.Error("nodes did not stop in time; killing them", "timeout", cfg.StopTimeout)
			for _, cmd := range running {
				_ = cmd.Process.Kill()
			}
			for ; left > 0; left-- {
				<-exited
			}
			return errors.Join(result, errors.New("static: nodes had to be killed"))
		}
	}
	return result
}

func without(cmds []*exec.Cmd, name string) []*exec.Cmd {
	out := cmds[:0]
	for _, c := range cmds {
		if c.Args[3] != name { // Args: exe node --name <name> ...
			out = append(out, c)
		}
	}
	return out
}
