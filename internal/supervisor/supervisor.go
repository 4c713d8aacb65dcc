package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/consulflag"
	"github.com/zshard/zshard/internal/proc"
)

// supervisor is the state of one Run; only Run's goroutine touches it.
type supervisor struct {
	cfg      Config
	log      *slog.Logger
	sess     *consul.Session
	initial  map[string]bool
	signals  map[string]consul.Signal
	running  map[string]*child
	pending  map[string]*time.Timer   // scheduled restarts
	backoff  map[string]time.Duration // next restart delay
	failed   map[string]uint64        // gave up; retried when the signal's index changes
	exits    chan exitEvent
	restarts chan string
	recheck  *time.Timer   // a pending reconcile, see recheckAfter
	done     chan struct{} // closed when Run returns
	// refused is set when Consul refused a claim: Run stops with it.
	refused error
	metrics *supervisorMetrics
	known   map[string]bool // nodes launched at least once, for the metrics
	claimed map[string]bool // nodes whose claim this supervisor holds
}

// Run supervises nodes until ctx is cancelled, then stops them all and
// returns. It fails early with a clear error if Consul is unreachable.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.fill(); err != nil {
		return err
	}
	c := cfg.Consul
	if err := c.Ping(ctx); err != nil {
		return err
	}
	s := &supervisor{
		cfg: cfg, log: cfg.Logger,
		initial: map[string]bool{}, signals: map[string]consul.Signal{},
		running: map[string]*child{}, pending: map[string]*time.Timer{},
		backoff: map[string]time.Duration{}, failed: map[string]uint64{},
		exits: make(chan exitEvent), restarts: make(chan string),
		done: make(chan struct{}), metrics: newSupervisorMetrics(),
		known: map[string]bool{}, claimed: map[string]bool{},
	}
	defer close(s.done)
	if cfg.MetricsPort > 0 {
		srv, err := s.serveMetrics()
		if err != nil {
			return err
		}
		defer srv.Close()
	}
	initial := make([]consul.Signal, cfg.Nodes)
	for i := range initial {
		initial[i] = consul.Signal{Name: "node-" + strconv.Itoa(i), State: consul.NodeUp}
		s.initial[initial[i].Name] = true
	}
	// All at once: a producer that records the layout meanwhile sees the
	// whole cluster, not the first nodes written.
	if _, err := c.EnsureSignals(ctx, initial); err != nil {
		return err
	}
	var err error
	if s.sess, err = s.newSession(ctx); err != nil {
		return err
	}

	watchCtx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	sigCh := make(chan []consul.Signal)
	claimCh := make(chan struct{}, 1)
	// A watch ends early only when an ACL refuses it; Run then stops.
	watchErr := make(chan error, 2)
	go func() {
		watchErr <- c.WatchSignals(watchCtx, func(sigs []consul.Signal) {
			select {
			case sigCh <- sigs:
			case <-watchCtx.Done():
			}
		})
	}()
	go func() {
		watchErr <- c.WatchClaims(watchCtx, func(api.KVPairs) {
			select { // coalesce: one pending reconcile is enough
			case claimCh <- struct{}{}:
			default:
			}
		})
	}()
	s.log.Info("supervisor started", "host", cfg.Host, "consul", c.Config().Addr, "nodes", cfg.Nodes)

	for {
		if s.refused != nil {
			stopWatches()
			s.shutdown()
			return s.refused
		}
		s.updateMetrics()
		select {
		case <-ctx.Done():
			stopWatches()
			s.shutdown()
			return nil
		case err := <-watchErr:
			if err == nil {
				continue // ctx is done: the case above follows
			}
			stopWatches()
			s.shutdown()
			return err
		case sigs := <-sigCh:
			s.signals = make(map[string]consul.Signal, len(sigs))
			for _, sg := range sigs {
				s.signals[sg.Name] = sg
			}
			s.reconcile(ctx)
		case <-claimCh:
			s.reconcile(ctx)
		case ev := <-s.exits:
			if err := s.onExit(ctx, ev); err != nil {
				stopWatches()
				s.shutdown()
				return err
			}
		case name := <-s.restarts:
			delete(s.pending, name)
			s.reconcile(ctx)
		case <-s.recheckC():
			s.recheck = nil
			s.reconcile(ctx)
		case <-s.sess.Lost():
			s.log.Warn("consul session lost; claiming running nodes again")
			if s.sess, err = s.newSession(ctx); err != nil {
				stopWatches()
				s.shutdown()
				if ctx.Err() != nil {
					return nil // cancelled while retrying
				}
				return err
			}
			s.reclaim(ctx)
			s.reconcile(ctx)
		}
	}
}

// newSession creates the supervisor's session, retrying with backoff while
// the agent is unreachable (it may be restarting). It fails when ctx ends,
// or at once when an ACL refuses the session.
func (s *supervisor) newSession(ctx context.Context) (*consul.Session, error) {
	delay := s.cfg.RestartMin
	for {
		sess, err := s.cfg.Consul.NewSession(ctx, "zshard supervisor on "+s.cfg.Host, 0)
		if err == nil {
			return sess, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, consul.ErrPermissionDenied) {
			return nil, err
		}
		s.log.Warn("cannot create consul session; retrying", "err", err, "retry_in", delay)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, s.cfg.RestartMax)
	}
}

// wanted reports whether this supervisor should run name.
func (s *supervisor) wanted(name string) bool {
	sg, ok := s.signals[name]
	if !ok {
		// No signal is no opinion: keep what runs (a dev agent that
		// restarted forgot the KV store) and start the initial nodes.
		return s.initial[name] || s.running[name] != nil
	}
	return sg.State == consul.NodeUp && (sg.Host == "" || sg.Host == s.cfg.Host)
}

// reconcile starts the wanted nodes this supervisor can claim and stops the
// unwanted ones it runs.
func (s *supervisor) reconcile(ctx context.Context) {
	names := map[string]bool{}
	for n := range s.signals {
		names[n] = true
	}
	for n := range s.initial {
		names[n] = true
	}
	for n := range s.running {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	slices.Sort(sorted)

	for _, name := range sorted {
		c := s.running[name]
		if !s.wanted(name) {
			if t := s.pending[name]; t != nil {
				t.Stop()
				delete(s.pending, name)
			}
			if c != nil && !c.stopping {
				s.log.Info("stopping node: remove signal", "node", name, "pid", c.pid())
				c.stop(s.cfg.StopTimeout)
			}
			delete(s.failed, name)
			continue
		}
		if _, ok := s.signals[name]; !ok {
			// Put the forgotten signal back so the KV store shows reality.
			if _, err := s.cfg.Consul.EnsureSignal(ctx, consul.Signal{Name: name, State: consul.NodeUp}); err != nil {
				s.log.Warn("cannot restore add signal", "node", name, "err", err)
			}
		}
		if c != nil || s.pending[name] != nil {
			continue
		}
		if idx, ok := s.failed[name]; ok && idx == s.signals[name].ModifyIndex {
			continue // failed for good; a new signal retries
		}
		delete(s.failed, name)
		ok, err := s.sess.Claim(ctx, name, fmt.Sprintf("%s pid %d", s.cfg.Host, os.Getpid()))
		s.countClaim(name, ok, err)
		if errors.Is(err, consul.ErrPermissionDenied) {
			s.refused = err
			return
		}
		if err != nil {
			s.log.Warn("cannot claim node", "node", name, "err", err)
			continue
		}
		if !ok {
			if held, err := s.cfg.Consul.ClaimHeld(ctx, name); err == nil && !held {
				// Free but in its lock delay (its holder's session just
				// ended): no KV change will announce the end of the delay.
				s.recheckAfter(consul.ClaimLockDelay + 500*time.Millisecond)
			}
			s.log.Debug("node is claimed by another supervisor", "node", name)
			continue
		}
		s.launch(name)
	}
}

func (s *supervisor) launch(name string) {
	req, ingest := Ports(name, s.cfg.BaseRequestPort, s.cfg.BaseIngestPort)
	args := append([]string{"node", "--name", name,
		"--rep-port", strconv.Itoa(req), "--pull-port", strconv.Itoa(ingest)},
		s.metricsArgs(name)...)
	args = append(append(args,
		"--consul", s.cfg.Consul.Config().Addr,
		"--service", s.cfg.Consul.Config().Service,
		"--host", s.cfg.Host,
	), consulflag.Args(s.cfg.Consul.Config())...)
	args = append(args, s.cfg.NodeArgs...)
	if s.cfg.DataDir != "" {
		args = append(args, "--data-dir", filepath.Join(s.cfg.DataDir, name))
	}
	c, err := startChild(name, s.cfg.Exe, args, s.cfg.Stdout, s.cfg.Stderr, s.exits)
	if err != nil {
		s.log.Error("cannot launch node", "node", name, "err", err)
		s.scheduleRestart(name)
		return
	}
	s.running[name] = c
	s.known[name] = true
	s.log.Info("node launched", "node", name, "pid", c.pid(), "rep_port", req, "pull_port", ingest)
}

// onExit handles the end of a node process. It fails when the node was
// refused by a Consul ACL: every node runs with the same token, so the
// others would be refused too.
func (s *supervisor) onExit(ctx context.Context, ev exitEvent) error {
	c := ev.c
	if s.running[c.name] == c {
		delete(s.running, c.name)
	}
	if c.stopping {
		s.log.Info("node stopped", "node", c.name, "pid", c.pid())
		delete(s.claimed, c.name)
		if err := s.sess.Release(ctx, c.name); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot release claim", "node", c.name, "err", err)
		}
		s.reconcile(ctx)
		return nil
	}
	code := proc.ExitCode(ev.err)
	ran := time.Since(c.started)
	if code == ExitPermission {
		return fmt.Errorf("%w: node %s was refused by Consul (its error above names the permission); "+
			"the nodes' token needs the node policy of docs/SECURITY.md", consul.ErrPermissionDenied, c.name)
	}
	if code == ExitUsage || code == ExitPortTaken {
		s.log.Error("node failed and will not be restarted until its signal changes",
			"node", c.name, "exit_code", code, "hint", "see the node's error above")
		s.failed[c.name] = s.signals[c.name].ModifyIndex
		delete(s.claimed, c.name)
		_ = s.sess.Release(ctx, c.name) // another host may be able to run it
		return nil
	}
	if ran >= s.cfg.StableAfter {
		delete(s.backoff, c.name)
	}
	s.log.Error("node exited unexpectedly; restarting", "node", c.name, "pid", c.pid(),
		"err", ev.err, "ran", ran.Round(time.Millisecond), "restart_in", s.nextBackoff(c.name))
	s.scheduleRestart(c.name)
	return nil
}

func (s *supervisor) nextBackoff(name string) time.Duration {
	if d, ok := s.backoff[name]; ok {
		return d
	}
	return s.cfg.RestartMin
}

// scheduleRestart restarts name after its current backoff and doubles it.
func (s *supervisor) scheduleRestart(name string) {
	d := s.nextBackoff(name)
	s.backoff[name] = min(d*2, s.cfg.RestartMax)
	s.metrics.restarts.WithLabelValues(name).Inc()
	s.pending[name] = time.AfterFunc(d, func() {
		select {
		case s.restarts <- name:
		case <-s.done:
		}
	})
}

// recheckAfter schedules one reconcile after d, unless one is pending.
func (s *supervisor) recheckAfter(d time.Duration) {
	if s.recheck == nil {
		s.recheck = time.NewTimer(d)
	}
}

// recheckC is the pending reconcile's channel; nil (never ready) if none.
func (s *supervisor) recheckC() <-chan time.Time {
	if s.recheck == nil {
		return nil
	}
	return s.recheck.C
}

// reclaim takes the claims of running nodes again on a new session; a node
// another supervisor claimed meanwhile is stopped.
func (s *supervisor) reclaim(ctx context.Context) {
	for name, c := range s.running {
		ok, err := s.sess.Claim(ctx, name, fmt.Sprintf("%s pid %d", s.cfg.Host, os.Getpid()))
		s.countClaim(name, ok, err)
		if err == nil && !ok {
			s.log.Warn("another supervisor claimed a node this one runs; stopping it", "node", name)
			c.stop(s.cfg.StopTimeout)
		}
	}
}

// shutdown stops every node, waits for them, and releases all claims.
func (s *supervisor) shutdown() {
	for _, t := range s.pending {
		t.Stop()
	}
	for _, c := range s.running {
		c.stop(s.cfg.StopTimeout)
	}
	if len(s.running) > 0 {
		s.log.Info("stopping nodes", "count", len(s.running))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for len(s.running) > 0 {
		ev := <-s.exits
		delete(s.running, ev.c.name)
		// An explicit release has no lock delay: another supervisor can
		// take the node over at once.
		_ = s.sess.Release(ctx, ev.c.name)
	}
	_ = s.sess.Close(ctx)
	s.log.Info("supervisor stopped")
}
