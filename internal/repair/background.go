package repair

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/ctxtime"
	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// Defaults of BackgroundConfig.
const (
	// DefaultInterval is the pause between two background rounds.
	DefaultInterval = 30 * time.Second
	// DefaultBackgroundRate bounds a background round, in records digested,
	// scanned and written per second (summed over the replicas): a node
	// leading a quarter of a million keys at R=2 (three quarters of a
	// million records) compares them in about 150 seconds, and four nodes
	// together spend about 2.5% of two cores on it (docs/REPLICATION.md,
	// "Anti-entropy repair").
	DefaultBackgroundRate = 5000
	// DefaultBackgroundPartitionRate bounds a background round in
	// partitions compared per second: the cost of a partition that holds
	// few records is mostly its own (its share of a DIGEST and of its
	// bitmap), whatever it holds.
	DefaultBackgroundPartitionRate = 1000
	// DefaultBackgroundChunk is how many consecutive partitions a round
	// compares at a time (of which the node leads about 1/N), between two
	// checks that no migration or lock holder has come up.
	DefaultBackgroundChunk = 16384
)

// BackgroundConfig configures Background. The zero value of every field
// but Node and Consul means its default.
type BackgroundConfig struct {
	// Node is the name of the node that runs the repair (required).
	Node string
	// Consul is the cluster's Consul client (required): the settings, the
	// passing members and the rebalance lock are read from it.
	Consul *consul.Client
	// Caller reaches the nodes by name. Default: a NodeCaller over
	// Consul (with Curve), closed when Background returns.
	Caller Caller
	// Curve is the CURVE identity of the default Caller, an admin key of
	// the nodes when they run CURVE. Default nil: plaintext.
	Curve *curve.Client
	// Interval is the pause between the end of a round and the start of
	// the next (jittered by up to a tenth either way); the first round
	// starts one Interval after Background. Default DefaultInterval.
	Interval time.Duration
	// MaxRate bounds a round in records per second: digested, scanned and
	// written, summed over the replicas. Default DefaultBackgroundRate;
	// negative means no bound.
	MaxRate int
	// MaxPartitionRate bounds a round in partitions compared per second.
	// Default DefaultBackgroundPartitionRate; negative means no bound.
	MaxPartitionRate int
	// ChunkPartitions is how many consecutive partitions a round compares
	// at a time. Default DefaultBackgroundChunk, at most 65536.
	ChunkPartitions int
	// Logger receives a line per round that found differences (Info) and
	// per round that found none (Debug). Default: discard.
	Logger *slog.Logger
	// OnRound, if not nil, is called after every round with its report
	// and error (an error wrapping ErrPaused for a round that did not run).
	OnRound func(Report, error)
}

func (c BackgroundConfig) withDefaults() BackgroundConfig {
	if c.Interval <= 0 {
		c.Interval = DefaultInterval
	}
	switch {
	case c.MaxRate == 0:
		c.MaxRate = DefaultBackgroundRate
	case c.MaxRate < 0:
		c.MaxRate = 0
	}
	switch {
	case c.MaxPartitionRate == 0:
		c.MaxPartitionRate = DefaultBackgroundPartitionRate
	case c.MaxPartitionRate < 0:
		c.MaxPartitionRate = 0
	}
	if c.ChunkPartitions <= 0 {
		c.ChunkPartitions = DefaultBackgroundChunk
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports a configuration Background cannot run with.
func (c BackgroundConfig) Validate() error {
	var errs []error
	if err := consul.ValidName(c.Node); err != nil {
		errs = append(errs, fmt.Errorf("repair: Node: %w", err))
	}
	if c.Consul == nil {
		errs = append(errs, errors.New("repair: Consul is required"))
	}
	return errors.Join(errs...)
}

// Background runs anti-entropy rounds for the partitions node cfg.Node
// leads, one every cfg.Interval, until ctx is done; it then returns nil
// (an invalid cfg is returned at once). A node leads a partition when it
// is the first replica of the partition's preference list that passes and
// is ready, so every partition with two replicas up has one leader, and
// the rounds of the nodes together cover the cluster. Each round
// (RunRound) is rate-limited by cfg.MaxRate, and does not run during a
// migration or while the rebalance lock is held (a rebalance or a
// client_producer repair runs).
//
// The node runtime starts it in a goroutine of its own, with the node's
// name and Consul client, once the node is registered:
//
//	go func() { _ = repair.Background(ctx, repair.BackgroundConfig{Node: name, Consul: cc}) }()
func Background(ctx context.Context, cfg BackgroundConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	if cfg.Caller == nil {
		nc := NewNodeCaller(cfg.Consul, DefaultCallTimeout).Secure(cfg.Curve)
		defer nc.Close()
		cfg.Caller = nc
	}
	cache := &roundCache{}
	for {
		jitter := time.Duration((rand.Float64() - 0.5) * 0.2 * float64(cfg.Interval))
		if err := ctxtime.Sleep(ctx, cfg.Interval+jitter); err != nil {
			return nil
		}
		rep, err := runRound(ctx, cfg, cache)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case errors.Is(err, ErrPaused):
			cfg.Logger.Debug("background repair paused", "node", cfg.Node, "why", err)
		case err != nil:
			cfg.Logger.Warn("background repair round failed", "node", cfg.Node, "err", err)
		case rep.Differing > 0 || len(rep.Down) > 0:
			cfg.Logger.Info("background repair round", "node", cfg.Node, "partitions", rep.Partitions,
				"differing", rep.Differing, "fixed", rep.FixedTotal(), "superseded", rep.Superseded,
				"down", len(rep.Down), "elapsed", rep.Elapsed.Round(time.Millisecond))
		default:
			cfg.Logger.Debug("background repair round", "node", cfg.Node, "partitions", rep.Partitions,
				"keys", rep.Keys, "elapsed", rep.Elapsed.Round(time.Millisecond))
		}
		if cfg.OnRound != nil {
			cfg.OnRound(rep, err)
		}
	}
}

// RunRound runs one background round for cfg.Node now (Background runs
// one every Interval): it compares the partitions the node leads, chunk by
// chunk, and repairs those that differ. It returns an error wrapping
// ErrPaused, having compared nothing or only part, when a migration is
// recorded, the rebalance lock is held, or the node is not passing and
// ready; the settings and the lock are checked again before every chunk.
func RunRound(ctx context.Context, cfg BackgroundConfig) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	return runRound(ctx, cfg.withDefaults(), &roundCache{})
}

// roundCache keeps what a round computes from the layout, for the next
// rounds of the same Background while the layout and the replicas up stay
// the same: the placement table (P preference lists) and the partitions
// the node leads.
type roundCache struct {
	tableKey string
	table    *sharding.Table
	ledKey   string
	led      []int
}

// tableFor returns the table of names under s, built again only when they
// changed.
func (c *roundCache) tableFor(s layout.Settings, names []string) (*sharding.Table, error) {
	key := fmt.Sprintf("%s/%d/%d/%d/%v", s.Algorithm, s.Partitions, s.Replicas, s.VNodes, names)
	if key == c.tableKey {
		return c.table, nil
	}
	t, err := s.Table(names)
	if err != nil {
		return nil, err
	}
	c.tableKey, c.table, c.ledKey = key, t, ""
	return t, nil
}

// ledBy returns e.ledBy(node), computed again only when the table or the
// replicas down changed.
func (c *roundCache) ledBy(e *engine, node string, down map[string]string) []int {
	key := fmt.Sprintf("%s %v", node, slices.Sorted(maps.Keys(down)))
	if key != c.ledKey {
		c.ledKey, c.led = key, e.ledBy(node)
	}
	return c.led
}

// runRound is RunRound with cfg's defaults filled in, and cache.
func runRound(ctx context.Context, cfg BackgroundConfig, cache *roundCache) (Report, error) {
	start := time.Now()
	s, err := pausedBy(ctx, cfg.Consul, nil)
	if err != nil {
		return Report{}, err
	}
	members, err := cfg.Consul.Members(ctx)
	if err != nil {
		return Report{}, err
	}
	if !slices.ContainsFunc(members, func(m consul.Member) bool { return m.Name == cfg.Node && m.Ready }) {
		return Report{}, fmt.Errorf("%w: %s is not passing and ready", ErrPaused, cfg.Node)
	}
	if cfg.Caller == nil {
		nc := NewNodeCaller(cfg.Consul, DefaultCallTimeout)
		defer nc.Close()
		cfg.Caller = nc
	}
	if nc, ok := cfg.Caller.(*NodeCaller); ok {
		nc.SetMembers(members)
	}
	names, down, err := layoutOf(s, members)
	if err != nil {
		return Report{}, err
	}
	table, err := cache.tableFor(s, names)
	if err != nil {
		return Report{}, err
	}
	e := newEngine(cfg.Caller, table, down, options{maxKeyRate: cfg.MaxRate, maxPartitionRate: cfg.MaxPartitionRate,
		chunk: cfg.ChunkPartitions, log: cfg.Logger})
	led := cache.ledBy(e, cfg.Node, down)
	report := func() Report {
		r := e.report()
		r.Partitions, r.Elapsed = len(led), time.Since(start)
		return r
	}
	if len(led) == 0 {
		return report(), nil
	}
	old, err := e.checkFeatures(ctx)
	if err != nil {
		return report(), err
	}
	if len(old) > 0 {
		return report(), fmt.Errorf("%w: %s (its PING features lack %q)", ErrNoVersions, strings.Join(old, ", "), "versions")
	}
	chunk := e.opt.chunk
	for i := 0; i < len(led); {
		if _, err := pausedBy(ctx, cfg.Consul, &s); err != nil {
			return report(), err
		}
		// The partitions led among chunk consecutive ones.
		j := i
		for j < len(led) && led[j] < led[i]-led[i]%chunk+chunk {
			j++
		}
		if err := e.compareChunk(ctx, led[i:j]); err != nil {
			return report(), err
		}
		i = j
	}
	return report(), nil
}

// pausedBy reads the settings and the rebalance lock, and returns an error
// wrapping ErrPaused when a round must not run: a migration is recorded,
// the lock is held, or (with was) the layout changed since was was read.
func pausedBy(ctx context.Context, cc *consul.Client, was *layout.Settings) (layout.Settings, error) {
	s, _, err := cc.Settings(ctx)
	if errors.Is(err, consul.ErrNotFound) {
		return s, fmt.Errorf("%w: %w", ErrPaused, ErrNoSettings)
	}
	if err != nil {
		return s, err
	}
	if m := s.Migration; m != nil {
		return s, fmt.Errorf("%w: %s of %s in phase %s", ErrPaused, m.Kind, m.Node, m.Phase)
	}
	if was != nil && (s.Epoch != was.Epoch || !slices.Equal(s.Members, was.Members)) {
		return s, fmt.Errorf("%w: the layout changed (epoch %d -> %d)", ErrPaused, was.Epoch, s.Epoch)
	}
	holder, err := cc.LockHolder(ctx, rebalance.LockName)
	if err != nil {
		return s, err
	}
	if holder != "" {
		return s, fmt.Errorf("%w: the rebalance lock is held by %s", ErrPaused, holder)
	}
	return s, nil
}

// ledBy returns the partitions node leads: those of which it is the first
// replica up, with another replica up to compare with.
func (e *engine) ledBy(node string) []int {
	var led []int
	var buf []string
	for p := range e.parts {
		if buf = e.upList(buf[:0], p); len(buf) >= 2 && buf[0] == node {
			led = append(led, p)
		}
	}
	return led
}
