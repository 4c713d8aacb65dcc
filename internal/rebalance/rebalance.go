package rebalance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/ctxtime"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// LockName is the Consul lock (<prefix>locks/rebalance) one rebalancer holds.
const LockName = "rebalance"

// Defaults of Config.
const (
	DefaultGrace       = 2 * time.Second
	DefaultAckEvery    = 16384
	DefaultBatchKeys   = 512
	DefaultScanBatch   = 2048
	DefaultJoinTimeout = 2 * time.Minute
	DefaultRounds      = 20
	DefaultSettle      = 500 * time.Millisecond
	// DefaultRequestTimeout replaces the producer's when Config.Producer
	// leaves it zero.
	DefaultRequestTimeout = 10 * time.Second
)

// Errors. Callers test with errors.Is.
var (
	// ErrLocked means another rebalancer holds the lock (the error names it).
	ErrLocked = errors.New("rebalance: another rebalancer is running")
	// ErrUnfinished means a different migration is unfinished; the error
	// says how to resume it.
	ErrUnfinished = errors.New("rebalance: another migration is unfinished")
	// ErrBadRequest means the node cannot be added or removed (already a
	// member, not a member, last node, ...).
	ErrBadRequest = errors.New("rebalance: invalid request")
	// ErrLostMigration means the migration in the settings changed under
	// the rebalancer (someone cleared or replaced it).
	ErrLostMigration = errors.New("rebalance: migration changed concurrently")
	// ErrNotConverged means verification kept finding differences.
	ErrNotConverged = errors.New("rebalance: verification did not converge; run the command again")
)

// Config configures a rebalance. The zero value of every field means its
// default.
type Config struct {
	// Producer configures the routing client the rebalancer talks to nodes
	// with (Consul address, codec, timeouts). NoInit is forced on.
	Producer producer.Config
	// Grace is how long producers are given to see a phase change (their
	// settings watch) before the rebalancer relies on it. Default 2s.
	Grace time.Duration
	// AckEvery is how many keys a source streams to the destinations (PUSH
	// BATCHes on their ingest endpoints) before it waits for their
	// acknowledgement (a SYNC barrier): the flow-control window. Default 16384.
	AckEvery int
	// BatchKeys is the number of reads or repairs in one BATCH during
	// verification. Default 512. (Copies and deletes are batched by the
	// producer's Config.BatchOps.)
	BatchKeys int
	// ScanBatch bounds the partition SCANs in one BATCH (fewer when the
	// partitions are big: a BATCH aims at about 8192 entries). Default 2048.
	ScanBatch int
	// Settle is how long verification waits before it re-reads a key that
	// differs between source and destination; only a difference that stays
	// the same is repaired (a concurrent write may be half-way). Default
	// 500ms.
	Settle time.Duration
	// MaxRate bounds the copy in keys per second; 0 means no bound.
	MaxRate int
	// Wait makes a rebalancer that finds the lock taken wait for it instead
	// of failing with ErrLocked.
	Wait bool
	// JoinTimeout bounds the wait for an added node to pass. Default 2m.
	JoinTimeout time.Duration
	// DryRun computes and reports the plan without changing anything.
	DryRun bool
	// Dead declares the node a Remove removes gone for good: it is down
	// and is not coming back. Its partitions are copied from their other
	// replicas; those it alone held (every one of its partitions at R=0)
	// are lost, and counted in Report.Lost. Remove refuses a node that is
	// down without Dead, and Dead for a node that passes.
	Dead bool
	// Holder describes this rebalancer in the lock (shown to a second one).
	// Default: "<command> pid <pid> on <hostname>".
	Holder string
	// Progress, if not nil, is called about every ProgressEvery with the
	// current counters, and once at the end of every phase.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Logger receives phase changes. Default: discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	c.Grace = cmp.Or(c.Grace, DefaultGrace)
	c.Settle = positiveOr(c.Settle, DefaultSettle)
	c.AckEvery = positiveOr(c.AckEvery, DefaultAckEvery)
	c.BatchKeys = positiveOr(c.BatchKeys, DefaultBatchKeys)
	c.ScanBatch = positiveOr(c.ScanBatch, DefaultScanBatch)
	c.JoinTimeout = positiveOr(c.JoinTimeout, DefaultJoinTimeout)
	c.ProgressEvery = positiveOr(c.ProgressEvery, 200*time.Millisecond)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Holder = cmp.Or(c.Holder, DefaultHolder())
	c.Producer.NoInit = true
	if c.Producer.RequestTimeout == 0 {
		// Scans and verification batches are big requests on busy nodes.
		c.Producer.RequestTimeout = DefaultRequestTimeout
	}
	return c
}

// positiveOr returns v, or def when v is zero or negative.
func positiveOr[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Progress is a snapshot of a running rebalance.
type Progress struct {
	Phase string
	// Keys and Bytes copied (acknowledged by the destination) so far;
	// EstKeys is the estimate of the keys to copy (0 when unknown).
	Keys, Bytes, EstKeys int64
	// Fixed counts keys repaired by verification; Deleted keys removed at
	// the sources.
	Fixed, Deleted int64
	// Elapsed is the time since the rebalancer started, CopyElapsed since
	// the copy started (0 before).
	Elapsed, CopyElapsed time.Duration
}

// Report is the outcome of a rebalance (or, with DryRun, its plan).
type Report struct {
	Kind layout.MigrationKind
	Node string
	From []string
	To   []string
	// Resumed is true when an unfinished migration was continued.
	Resumed bool
	// Partitions is the number of partitions whose preference list changes;
	// Transfers the partition copies (partition, source, destination).
	Partitions int
	Transfers  int
	// PairPartitions counts transfers by "source->destination".
	PairPartitions map[string]int
	// Keys and Bytes copied; Optimum the keys the changed partitions held at
	// their sources (one per destination), i.e. what had to move; Fixed the
	// keys verification repaired; Deleted the keys deleted at sources.
	Keys, Bytes, Optimum, Fixed, Deleted int64
	// EstKeys is the dry run's estimate of the keys to copy (from STATS).
	EstKeys int64
	// Lost counts the partitions of a node removed with Config.Dead that
	// no other node held: their keys are gone.
	Lost int
	// Join is the wait for an added node to pass; Copy the time until every
	// source's copy is acknowledged; Verify the verification after that (a
	// source whose copy ended first is verified while others still copy);
	// Clean the deletes at the sources; Total the whole run (lock, join and
	// grace periods included).
	Join, Copy, Verify, Clean, Total time.Duration
}

// Moved is every key written to a destination: copies and repairs.
func (r Report) Moved() int64 { return r.Keys + r.Fixed }

// ResumeCommand returns the client_producer command that resumes m.
func ResumeCommand(m *layout.Migration) string {
	if m.Kind == layout.MigrationAdd {
		return "client_producer add-node " + m.Node
	}
	return "client_producer remove-node " + m.Node
}

// Add adds node (launched by the supervisor on host, any when empty) and
// moves to it the keys it now holds.
func Add(ctx context.Context, cfg Config, node, host string) (Report, error) {
	return run(ctx, cfg, layout.MigrationAdd, node, host)
}

// Remove moves node's keys to the nodes that hold them next, then signals
// its removal.
func Remove(ctx context.Context, cfg Config, node string) (Report, error) {
	return run(ctx, cfg, layout.MigrationRemove, node, "")
}

type rebalancer struct {
	cfg   Config
	cc    *consul.Client
	p     *producer.Producer
	log   *slog.Logger
	start time.Time

	// dead is the node removed with Config.Dead ("" otherwise): no
	// transfer reads from it.
	dead string

	// raw is whether the copy and its verification move values raw, and
	// versions whether they carry the records' versions and tombstones
	// (features); set before the copy starts, read-only after.
	raw, versions bool

	copyStart                            time.Time
	copyAt                               atomic.Value // time.Time: copyStart, for the progress goroutine
	phase                                atomic.Value // string
	keys, bytes, est, fixed, deleted, op atomic.Int64
}

func run(ctx context.Context, cfg Config, kind layout.MigrationKind, node, host string) (rep Report, err error) {
	cfg = cfg.withDefaults()
	rep.Kind, rep.Node = kind, node
	if err := consul.ValidName(node); err != nil {
		return rep, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if len(cfg.Producer.Static) > 0 {
		return rep, fmt.Errorf("%s %s: %w", kind, node, producer.ErrStatic)
	}
	r := &rebalancer{cfg: cfg, log: cfg.Logger, start: time.Now()}
	r.phase.Store("starting")
	if r.cc, err = consul.New(cfg.Producer.Consul); err != nil {
		return rep, err
	}
	if err := r.cc.Ping(ctx); err != nil {
		return rep, err
	}
	if !cfg.DryRun {
		sess, err := r.lock(ctx)
		if err != nil {
			return rep, err
		}
		defer ReleaseLock(sess)
		// A lost session means another rebalancer may take over: stop.
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-sess.Lost():
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	// The copy and its verification move values raw, each in its own
	// codec, so the wire's codec is the rebalancer's choice: msgpack
	// carries a value as bytes where JSON carries it in base64. The copy
	// falls back to the configured codec when a node is older than raw
	// values (useCodecFor).
	wire := cfg.Producer
	wire.Codec = protocol.Msgpack
	if r.p, err = producer.New(ctx, wire); err != nil {
		return rep, err
	}
	defer func() { r.p.Close() }() // r.p may be replaced by then
	stop := r.reportProgress()
	defer stop()
	defer func() { rep.Total = time.Since(r.start) }()
	return r.do(ctx, kind, node, host, rep)
}

// lock takes the rebalance lock, waiting for it when cfg.Wait.
func (r *rebalancer) lock(ctx context.Context) (*consul.Session, error) {
	return TakeLock(ctx, r.cc, r.cfg.Holder, r.cfg.Wait, func(holder string) {
		r.log.Info("waiting for the rebalance lock", "holder", holder)
		if r.cfg.Progress != nil {
			r.phase.Store("waiting for the lock held by " + holder)
		}
	})
}

func (r *rebalancer) snapshot() Progress {
	return Progress{Phase: r.phase.Load().(string), Keys: r.keys.Load(), Bytes: r.bytes.Load(), EstKeys: r.est.Load(),
		Fixed: r.fixed.Load(), Deleted: r.deleted.Load(), Elapsed: time.Since(r.start), CopyElapsed: r.copyElapsed()}
}

func (r *rebalancer) copyElapsed() time.Duration {
	if t, ok := r.copyAt.Load().(time.Time); ok {
		return time.Since(t)
	}
	return 0
}

func (r *rebalancer) reportProgress() (stop func()) {
	return ReportProgress(r.cfg.ProgressEvery, r.cfg.Progress, r.snapshot)
}

func (r *rebalancer) setPhase(name string) {
	r.phase.Store(name)
	r.log.Info("rebalance phase", "phase", name)
}

// do runs (or resumes) the migration.
func (r *rebalancer) do(ctx context.Context, kind layout.MigrationKind, node, host string, rep Report) (Report, error) {
	s, err := r.settings(ctx)
	if err != nil {
		return rep, err
	}
	m := s.Migration
	// legacy: the cluster places keys by its passing members (no layout
	// recorded yet), so the node an add launches would take its keys at
	// once in producers that still follow that rule.
	legacy := m == nil && s.Legacy()
	if m != nil && (m.Kind != kind || m.Node != node) {
		return rep, fmt.Errorf("%w: %s of %s stopped in phase %s; finish it first with `%s`",
			ErrUnfinished, m.Kind, m.Node, m.Phase, ResumeCommand(m))
	}
	rep.Resumed = m != nil
	if m == nil {
		if m, err = r.migration(ctx, s, kind, node); err != nil {
			return rep, err
		}
	}
	if err := r.checkDead(kind, node); err != nil {
		return rep, err
	}
	if r.cfg.DryRun {
		return r.dryRun(ctx, s, m, rep)
	}
	if rep.Resumed {
		r.log.Info("resuming migration", "id", m.ID, "phase", m.Phase)
	} else if s, err = r.record(ctx, s, m); err != nil {
		return rep, err
	}
	plan, from, err := planOf(s, m, r.dead, &rep)
	if err != nil {
		return rep, err
	}
	if m.Phase == layout.PhaseCopying {
		if err := r.copyPhase(ctx, m, host, legacy, plan, from, &rep); err != nil {
			return rep, err
		}
	}
	if m.Phase == layout.PhaseSwitched {
		if err := r.switchedPhase(ctx, m); err != nil {
			return rep, err
		}
	}
	return rep, r.cleaningPhase(ctx, m, plan, &rep)
}

// settings reads the cluster settings; a cluster without any cannot be
// rebalanced.
func (r *rebalancer) settings(ctx context.Context) (layout.Settings, error) {
	s, _, err := r.cc.Settings(ctx)
	if errors.Is(err, consul.ErrNotFound) {
		return s, fmt.Errorf("%w: the cluster has no settings yet (write some keys first, or start a producer)", ErrBadRequest)
	}
	return s, err
}

// migration returns the migration that adds or removes node from the
// current layout of s, in phase copying, not yet recorded. A cluster with no
// layout recorded yet gets its intended members recorded first
// (consul.Client.RecordMembers).
func (r *rebalancer) migration(ctx context.Context, s layout.Settings, kind layout.MigrationKind, node string) (*layout.Migration, error) {
	if s.Legacy() {
		rec, err := r.cc.RecordMembers(ctx)
		if err != nil {
			return nil, err
		}
		if rec.Migration != nil || rec.Epoch != s.Epoch {
			return nil, fmt.Errorf("%w: the layout changed while starting; run the command again", ErrLostMigration)
		}
		s = rec
	}
	members := s.Members
	// (A remove writes its signal before it clears the migration, so a
	// node that is no longer a member needs nothing more.)
	to, err := target(kind, node, members)
	if err != nil {
		return nil, err
	}
	return &layout.Migration{ID: fmt.Sprintf("%s-%s-epoch-%d", kind, node, s.Epoch), Kind: kind, Node: node,
		From: slices.Clone(members), To: to, Phase: layout.PhaseCopying}, nil
}

// record stores the new migration m, with its From as the layout, in
// settings that must still be s, and returns the settings stored.
func (r *rebalancer) record(ctx context.Context, s layout.Settings, m *layout.Migration) (layout.Settings, error) {
	epoch := s.Epoch
	s, err := r.cc.UpdateSettings(ctx, func(cur *layout.Settings) error {
		if cur.Migration != nil || cur.Epoch != epoch || (!cur.Legacy() && !slices.Equal(cur.Members, m.From)) {
			return fmt.Errorf("%w: the layout changed while starting; run the command again", ErrLostMigration)
		}
		cur.Members = slices.Clone(m.From)
		cur.Migration = m
		return nil
	})
	if err != nil {
		return s, err
	}
	r.log.Info("migration started", "id", m.ID, "from", m.From, "to", m.To)
	return s, nil
}

// copyPhase runs phase copying: for an add, the node joins; the
// partitions that change are copied and verified; then the layout switches
// to To.
func (r *rebalancer) copyPhase(ctx context.Context, m *layout.Migration, host string, legacy bool,
	plan sharding.Plan, from *sharding.Table, rep *Report) error {
	if m.Kind == layout.MigrationAdd {
		if legacy {
			// Every producer must route by the recorded layout before
			// the node passes (a producer also reads the settings when
			// a member appears under the legacy rule).
			r.setPhase("waiting for producers (layout)")
			if err := ctxtime.Sleep(ctx, r.cfg.Grace); err != nil {
				return err
			}
		}
		t0 := time.Now()
		if err := r.join(ctx, m.Node, host); err != nil {
			return err
		}
		rep.Join = time.Since(t0)
	}
	r.setPhase("waiting for producers (copying)")
	if err := ctxtime.Sleep(ctx, r.cfg.Grace); err != nil {
		return err
	}
	if err := r.copyAndVerify(ctx, plan, from, rep); err != nil {
		return err
	}
	if err := r.advance(ctx, m); err != nil {
		return err
	}
	r.setPhase("switched")
	return ctxtime.Sleep(ctx, r.cfg.Grace)
}

// switchedPhase ends phase switched: writes stop going to From.
func (r *rebalancer) switchedPhase(ctx context.Context, m *layout.Migration) error {
	if err := r.advance(ctx, m); err != nil {
		return err
	}
	r.setPhase("waiting for producers (cleaning)")
	return ctxtime.Sleep(ctx, r.cfg.Grace)
}

// cleaningPhase runs phase cleaning: the nodes that dropped partitions
// delete their keys, a removed node is signalled to stop, and the
// migration is cleared.
func (r *rebalancer) cleaningPhase(ctx context.Context, m *layout.Migration, plan sharding.Plan, rep *Report) error {
	t0 := time.Now()
	if err := r.cleanup(ctx, plan, m.Kind, m.Node); err != nil {
		return err
	}
	rep.Clean = time.Since(t0)
	rep.Deleted = r.deleted.Load()
	if m.Kind == layout.MigrationRemove {
		if err := r.cc.SignalRemove(ctx, m.Node); err != nil {
			return err
		}
	}
	if err := r.advance(ctx, m); err != nil {
		return err
	}
	r.setPhase("done")
	return nil
}

var errNothingToDo = errors.New("nothing to do")

// checkDead checks Config.Dead against the health of the node a remove
// removes, and sets r.dead.
func (r *rebalancer) checkDead(kind layout.MigrationKind, node string) error {
	if kind != layout.MigrationRemove {
		if r.cfg.Dead {
			return fmt.Errorf("%w: --dead applies to remove-node only", ErrBadRequest)
		}
		return nil
	}
	up := slices.ContainsFunc(r.p.Members(), func(m consul.Member) bool { return m.Name == node })
	switch {
	case up && r.cfg.Dead:
		return fmt.Errorf("%w: %s passes its health check; remove it without --dead so its keys are copied from it", ErrBadRequest, node)
	case !up && !r.cfg.Dead:
		return fmt.Errorf("%w: %s is down (not passing its health check), so its keys cannot be copied from it. "+
			"Start it again, or declare it gone for good with `client_producer remove-node %s --dead`: its partitions are then "+
			"copied from their other replicas, and those it alone held (all of them at R=0) are lost", ErrBadRequest, node, node)
	case r.cfg.Dead:
		r.dead = node
	}
	return nil
}

// target returns the layout after the change.
func target(kind layout.MigrationKind, node string, members []string) ([]string, error) {
	has := slices.Contains(members, node)
	switch kind {
	case layout.MigrationAdd:
		if has {
			return nil, fmt.Errorf("%w: %s is already a member of the layout %v", ErrBadRequest, node, members)
		}
		to := append(slices.Clone(members), node)
		slices.Sort(to)
		return to, nil
	default:
		if !has {
			return nil, fmt.Errorf("%w: %w: %s is not a member of the layout %v", ErrBadRequest, errNothingToDo, node, members)
		}
		if len(members) == 1 {
			return nil, fmt.Errorf("%w: %s is the last node; its keys would have nowhere to go", ErrBadRequest, node)
		}
		return slices.DeleteFunc(slices.Clone(members), func(n string) bool { return n == node }), nil
	}
}

// planOf builds the From and To tables of m and their diff, and fills
// the plan's part of rep.
//
// dead is the node removed with Config.Dead, "" for none: its transfers
// (partitions only it held) cannot be made and count as Lost.
func planOf(s layout.Settings, m *layout.Migration, dead string, rep *Report) (sharding.Plan, *sharding.Table, error) {
	rep.From, rep.To = m.From, m.To
	from, err := s.Table(m.From)
	if err != nil {
		return sharding.Plan{}, nil, err
	}
	to, err := s.Table(m.To)
	if err != nil {
		return sharding.Plan{}, nil, err
	}
	plan, err := sharding.Diff(from, to)
	if err != nil {
		return sharding.Plan{}, nil, err
	}
	rep.Partitions = len(plan.Changes)
	rep.PairPartitions = map[string]int{}
	for _, t := range plan.Transfers() {
		if t.From == dead {
			rep.Lost++
			continue
		}
		rep.Transfers++
		rep.PairPartitions[t.From+"->"+t.To]++
	}
	return plan, from, nil
}

// advance moves m to the phase that follows its own (layout.Settings.Advance
// says what that changes) by CAS, and records the new phase in m.
func (r *rebalancer) advance(ctx context.Context, m *layout.Migration) error {
	next, err := m.Phase.Next()
	if err != nil {
		return err
	}
	_, err = r.cc.UpdateSettings(ctx, func(cur *layout.Settings) error {
		if cur.Migration == nil || cur.Migration.ID != m.ID || cur.Migration.Phase != m.Phase {
			return fmt.Errorf("%w: expected %s in phase %s, found %+v", ErrLostMigration, m.ID, m.Phase, cur.Migration)
		}
		return cur.Advance(next)
	})
	if err != nil {
		return err
	}
	m.Phase = next
	return nil
}

// join writes the add signal and waits until the node passes and this
// rebalancer's producer routes to it.
func (r *rebalancer) join(ctx context.Context, node, host string) error {
	r.setPhase("waiting for " + node + " to join")
	if err := r.cc.SignalAdd(ctx, node, host); err != nil {
		return err
	}
	deadline := time.Now().Add(r.cfg.JoinTimeout)
	for {
		for _, m := range r.p.Members() {
			if m.Name == node {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not pass its health check within %v: is a supervisor (server_consumer) running%s? The migration stays in phase copying; run the command again once it runs",
				node, r.cfg.JoinTimeout, hostNote(host))
		}
		if err := ctxtime.Sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

func hostNote(host string) string {
	if host == "" {
		return ""
	}
	return " with --host " + host
}

// dryRun reports the plan and an estimate of the keys, changing nothing.
func (r *rebalancer) dryRun(ctx context.Context, s layout.Settings, m *layout.Migration, rep Report) (Report, error) {
	plan, from, err := planOf(s, m, r.dead, &rep)
	if err != nil {
		return rep, err
	}
	rep.EstKeys = r.estimate(ctx, plan, from)
	return rep, nil
}

// estimate guesses the keys to copy from the sources' STATS: a source's keys
// times the share of its partitions it sends.
func (r *rebalancer) estimate(ctx context.Context, plan sharding.Plan, from *sharding.Table) int64 {
	st, err := r.p.Status(ctx)
	if err != nil {
		return 0
	}
	keys := map[string]int64{}
	for _, n := range st.Nodes {
		keys[n.Name] = n.Keys
	}
	held := map[string]int{}
	var buf []string
	for p := range from.Partitions() {
		for _, n := range from.AppendPartitionPrefs(buf[:0], p) {
			held[n]++
		}
	}
	sent := map[string]int{}
	for _, t := range plan.Transfers() {
		sent[t.From]++
	}
	var est float64
	for n, c := range sent {
		if held[n] > 0 {
			est += float64(keys[n]) * float64(c) / float64(held[n])
		}
	}
	return int64(est)
}
