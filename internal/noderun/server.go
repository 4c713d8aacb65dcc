package noderun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/metrics"
	"github.com/zshard/zshard/internal/node"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/repair"
	"github.com/zshard/zshard/internal/reqclient"
	"github.com/zshard/zshard/internal/store/durable"
	"github.com/zshard/zshard/layout"
)

// Server is one running node: serving and, with Consul, registered. Start
// returns it; Stop ends it.
type Server struct {
	cfg      Config
	store    *durable.Store // opened by the run, closed after the node; nil otherwise
	node     *node.Node
	catchUp  *node.CatchUp   // non-nil while the node catches up
	settings layout.Settings // the cluster's settings, for the catch-up
	reg      *consul.Registrar
	rep      string          // the request endpoint as registered (or bound)
	pull     string          // the ingest endpoint as registered (or bound)
	metrics  *metrics.Server // nil unless Config.Metrics
	repair   repairStats     // the background repair's figures

	bgCtx    context.Context // ends the background loops
	stopBg   context.CancelFunc
	bg       sync.WaitGroup // the heartbeat and the catch-up, which Stop waits for
	stopOnce sync.Once
}

// Run runs one node until ctx is done, then stops it (see Stop). It
// returns an error only when the node could not start.
func Run(ctx context.Context, cfg Config) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	s.Stop()
	return nil
}

// Start opens the store, checks the data against the layout, starts the
// node, registers it, writes the Ready line, and returns: the heartbeat and
// the catch-up, if any, go on in the background until Stop. ctx bounds the
// start only. On error nothing is left running.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	s := &Server{cfg: cfg.withDefaults()}
	if err := s.openStore(); err != nil {
		return nil, err
	}
	if err := s.prepare(ctx); err != nil {
		s.closeStore()
		return nil, err
	}
	if err := s.serve(); err != nil {
		_ = s.node.Close()
		s.closeStore()
		return nil, err
	}
	if err := s.serveMetrics(); err != nil {
		s.closeNode()
		return nil, err
	}
	if err := s.register(ctx); err != nil {
		s.closeMetrics()
		s.closeNode()
		return nil, err
	}
	if s.cfg.Ready != nil {
		fmt.Fprintf(s.cfg.Ready, "READY %s %s %s\n", s.node.Name(), s.rep, s.pull)
	}
	s.bgCtx, s.stopBg = context.WithCancel(context.WithoutCancel(ctx))
	if s.reg != nil {
		s.bg.Go(s.heartbeat)
		if s.catchUp != nil {
			s.bg.Go(s.catchUpThenReady)
		}
		if !s.cfg.SkipLayout && s.cfg.RepairInterval >= 0 {
			s.bg.Go(s.backgroundRepair)
		}
	}
	return s, nil
}

// backgroundRepair runs the anti-entropy rounds of the partitions the node
// leads until Stop (docs/REPLICATION.md). A round does nothing while the
// cluster has R = 0, a migration or a repair runs.
func (s *Server) backgroundRepair() {
	rate := s.cfg.RepairRate
	if rate == 0 {
		rate = -1 // the flag's 0: no bound
	}
	err := repair.Background(s.bgCtx, repair.BackgroundConfig{Node: s.node.Name(), Consul: s.cfg.Consul,
		Interval: s.cfg.RepairInterval, MaxRate: rate, Curve: s.cfg.curveClient(), Logger: s.cfg.Logger, OnRound: s.repair.onRound})
	if err != nil {
		s.cfg.Logger.Error("background repair did not start", "err", err)
	}
}

// Name returns the node's name.
func (s *Server) Name() string { return s.node.Name() }

// RequestEndpoint returns the request endpoint as registered in Consul
// (as bound without Consul).
func (s *Server) RequestEndpoint() string { return s.rep }

// IngestEndpoint returns the ingest endpoint as registered in Consul (as
// bound without Consul).
func (s *Server) IngestEndpoint() string { return s.pull }

// Stop ends the catch-up and the heartbeat, deregisters the node (so
// clients stop routing to it), then closes the node and the store the run
// opened. It is safe to call more than once; it returns once everything
// has stopped.
func (s *Server) Stop() {
	s.stopOnce.Do(func() {
		s.stopBg()
		s.bg.Wait()
		s.deregister()
		s.closeMetrics()
		s.closeNode()
	})
}

// openStore opens the durable store of cfg.DataDir unless the caller gave
// the node a store, or there is no data directory.
func (s *Server) openStore() error {
	if s.cfg.Node.Store != nil || s.cfg.DataDir == "" {
		return nil
	}
	opts := durable.Options{Logger: s.cfg.Logger, CacheBytes: s.cfg.CacheBytes}
	if s.cfg.Node.Sync == node.SyncBatch {
		opts.SyncInterval = durable.DefaultSyncInterval
	}
	st, err := durable.Open(s.cfg.DataDir, opts)
	if err != nil {
		return &StoreError{Dir: s.cfg.DataDir, Err: err}
	}
	s.store = st
	s.cfg.Node.Store = st
	return nil
}

// prepare creates the node and, in a cluster with stored settings, gets
// it ready to come back before it binds: a durable node with replicas that
// was away longer than the tombstone TTL drops its data, a durable node
// runs the layout check, and with replicas (R > 0) every node, durable or
// in memory, enters catch-up mode.
func (s *Server) prepare(ctx context.Context) error {
	n, err := node.New(s.cfg.Node)
	if err != nil {
		return err
	}
	s.node = n
	if !s.cfg.catchesUp() {
		return nil
	}
	log := s.cfg.Logger
	settings, ok, err := readSettings(ctx, s.cfg, n, log)
	if err != nil {
		_ = n.Close()
		return err
	}
	if !ok {
		return nil
	}
	if settings.Replicas > 0 {
		// Unable to drop (a read-only directory), the node cannot apply
		// its catch-up either: it stays unready for reads.
		if _, err := n.DropIfAway(ctx); err != nil {
			log.Error("cannot drop the data of a node away longer than the tombstone TTL", "node", n.Name(), "err", err)
		}
	}
	if s.cfg.DataDir != "" {
		if err := checkLayout(ctx, s.cfg, n, settings, log); err != nil {
			_ = n.Close()
			return err
		}
	}
	if settings.Replicas > 0 {
		if why := noCatchUp(settings, n.Name()); why != "" {
			log.Info("no catch-up: "+why, "node", n.Name())
			return nil
		}
		s.settings = settings
		s.catchUp = n.BeginCatchUp()
	}
	return nil
}

// serve binds the node's endpoints and starts its loops.
func (s *Server) serve() error {
	if err := s.node.Start(); err != nil {
		if errors.Is(err, syscall.EADDRINUSE) || strings.Contains(strings.ToLower(err.Error()), "address already in use") {
			return fmt.Errorf("%w: %s: %v (is another server_consumer running? choose other ports)", ErrPortTaken, s.node.Name(), err)
		}
		return err
	}
	s.rep, s.pull = s.node.RequestEndpoint(), s.node.IngestEndpoint()
	return nil
}

// register registers the node in Consul, if configured, under the
// endpoints other hosts reach it at.
func (s *Server) register(ctx context.Context) error {
	if s.cfg.Consul == nil {
		return nil
	}
	// Bound endpoints, rewritten to the address other hosts reach. With a
	// wildcard bind and no Advertise that address is looked up again before
	// every heartbeat: a container can be given a new one.
	boundRep, boundPull := s.rep, s.pull
	endpoints := func() (string, string, error) {
		adv, err := advertiseAddr(s.cfg.Advertise, s.node.Bind())
		if err != nil {
			return "", "", err
		}
		return withHost(boundRep, adv), withHost(boundPull, adv), nil
	}
	rep, pull, err := endpoints()
	if err != nil {
		return err
	}
	r := consul.Registration{Name: s.node.Name(), RepURL: rep, PullURL: pull, Host: s.cfg.Host, TTL: s.cfg.TTL, CatchingUp: s.catchUp != nil,
		Curve: s.node.CurvePublicKey()}
	if s.metrics != nil {
		r.MetricsPort = s.metrics.Port()
	}
	if s.cfg.Advertise == "" && isWildcard(s.node.Bind()) {
		r.Refresh = endpoints
	}
	if s.reg, err = s.cfg.Consul.Register(ctx, r); err != nil {
		return err
	}
	s.rep, s.pull = rep, pull
	s.cfg.Logger.Info("registered in consul", "node", s.node.Name(), "rep", rep, "pull", pull)
	return nil
}

// heartbeat keeps the registration's check passing while the node answers
// its own PING, until Stop: a wedged request loop turns the check
// critical, not merely a dead process.
func (s *Server) heartbeat() {
	ping := reqclient.New(withHost(s.node.RequestEndpoint(), loopbackFor(s.node.Bind())), pingTimeout).
		Secure(s.cfg.curveClient(), s.node.Name(), s.node.CurvePublicKey())
	defer ping.Close()
	s.reg.Run(s.bgCtx, func() error {
		_, err := ping.Call(s.bgCtx, &protocol.Request{Op: protocol.OpPing})
		return err
	})
}

// deregister removes the registration, if any. On failure the agent
// removes the node once its check expires.
func (s *Server) deregister() {
	if s.reg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), deregisterTimeout)
	defer cancel()
	if err := s.reg.Deregister(ctx); err != nil {
		s.cfg.Logger.Warn("deregistration failed; the agent removes the node after its check expires", "node", s.node.Name(), "err", err)
		return
	}
	s.cfg.Logger.Info("deregistered from consul", "node", s.node.Name())
}

// closeNode closes the node, then the store the run opened.
func (s *Server) closeNode() {
	if err := s.node.Close(); err != nil {
		s.cfg.Logger.Warn("closing the node", "node", s.node.Name(), "err", err)
	}
	s.closeStore()
}

// closeStore closes the store the run opened, if any.
func (s *Server) closeStore() {
	if s.store == nil {
		return
	}
	if err := s.store.Close(); err != nil {
		s.cfg.Logger.Error("closing the data directory", "err", err)
	}
	s.store = nil
}

// ReloadAllowlist re-reads the node's CURVE allowlist directories now
// (node.Node.ReloadAllowlist); without CURVE it does nothing.
func (s *Server) ReloadAllowlist() error { return s.node.ReloadAllowlist() }
