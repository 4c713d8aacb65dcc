package repair

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/producer"
	"github.com/zshard/zshard/internal/rebalance"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// Errors. Callers test with errors.Is.
var (
	// ErrMigration means a migration (a rebalance) is recorded in the
	// settings: the replicas of a partition are then two layouts' and
	// being copied, so a repair does not run; the error names it and the
	// command that finishes it.
	ErrMigration = errors.New("repair: a migration is in progress")
	// ErrNoVersions means a node does not speak write versions (its PING
	// features lack "versions"): without versions the repair cannot tell
	// which replica holds the newest record.
	ErrNoVersions = errors.New("repair: a node does not speak write versions")
	// ErrNoSettings means the cluster has no settings yet: nothing was
	// ever written.
	ErrNoSettings = errors.New("repair: the cluster has no settings yet")
	// ErrPaused means a background round did not run: a migration is in
	// progress, the rebalance lock is held, or the node is not ready.
	ErrPaused = errors.New("repair: round paused")
)

// Config configures Run. The zero value of every field means its default.
type Config struct {
	// Producer configures the client the repair talks to the nodes with
	// (Consul address, codec, timeouts). NoInit is forced on, and its
	// RequestTimeout defaults to rebalance.DefaultRequestTimeout.
	Producer producer.Config
	// DryRun compares and counts what would be written, and writes
	// nothing: no key, no progress, no lock.
	DryRun bool
	// Restart starts a new run even when an interrupted one is recorded
	// in Consul (default: continue it).
	Restart bool
	// MaxRate bounds the keys per second the repair makes the nodes
	// handle: records digested, records scanned and keys written, summed
	// over the nodes. 0 means no bound.
	MaxRate int
	// MaxPartitionRate bounds the partitions compared per second. 0 means
	// no bound.
	MaxPartitionRate int
	// ChunkPartitions is how many consecutive partitions are compared per
	// round of DIGESTs (one per node); the progress is recorded after
	// each. Default DefaultChunkPartitions, at most 65536.
	ChunkPartitions int
	// BatchKeys bounds the writes of one BATCH. Default DefaultBatchKeys.
	BatchKeys int
	// Wait makes a repair that finds the rebalance lock taken wait for it
	// instead of failing with rebalance.ErrLocked.
	Wait bool
	// Holder describes this repair in the lock. Default:
	// "repair: <command> pid <pid> on <hostname>".
	Holder string
	// Progress, if not nil, is called about every ProgressEvery (default
	// 200ms) with the counters so far, and once at the end.
	Progress      func(Progress)
	ProgressEvery time.Duration
	// Logger receives what the repair skips and its phases. Default:
	// discard.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ProgressEvery <= 0 {
		c.ProgressEvery = 200 * time.Millisecond
	}
	c.Holder = cmp.Or(c.Holder, rebalance.DefaultHolder())
	if !strings.HasPrefix(c.Holder, "repair") {
		c.Holder = "repair: " + c.Holder
	}
	c.Producer.NoInit = true
	if c.Producer.RequestTimeout == 0 {
		c.Producer.RequestTimeout = rebalance.DefaultRequestTimeout
	}
	return c
}

// saveTimeout bounds the recording of a chunk's progress in Consul.
const saveTimeout = 10 * time.Second

// Progress is a snapshot of a running repair.
type Progress struct {
	// Phase is "starting", "waiting for the lock held by ...",
	// "comparing" or "done".
	Phase string
	// Partitions is how many the run covers; Done how many are compared
	// (or skipped), those of an interrupted run it continues included.
	Partitions, Done int
	// Differing counts the partitions whose digests differed, Fixed the
	// keys written (with a dry run, that would be).
	Differing int
	Fixed     int64
	// Elapsed is the time since the repair started.
	Elapsed time.Duration
}

// State is the progress of a repair as recorded in Consul (KV
// <prefix>repair, consul.RepairKey) after each chunk of partitions, so
// that an interrupted run continues where it stopped.
type State struct {
	RunID string `json:"run_id"`
	// Epoch and Partitions are the layout's: a run recorded under another
	// layout is not continued.
	Epoch      uint64 `json:"epoch"`
	Partitions int    `json:"partitions"`
	// LastPartition is the last partition done; the run continues with
	// the next one. -1 before the first chunk is done.
	LastPartition int `json:"last_partition"`
	// Finished is true once every partition is done.
	Finished bool      `json:"finished"`
	Started  time.Time `json:"started"`
	Updated  time.Time `json:"updated"`
	// Report holds the counters so far.
	Report Report `json:"report"`
}

// Run compares every partition's replicas (the preference lists of the
// layout, layout.Settings.Members) and writes the newest record of each
// key (last writer wins by version, tombstones included) to the replicas
// that lack it or hold an older one, in both directions. It holds the
// rebalance lock (rebalance.TakeLock) meanwhile, so that no rebalance
// runs at the same time, and records its progress in Consul after each
// chunk of partitions: a run interrupted is continued by the next one,
// unless Config.Restart. During a migration it fails with ErrMigration.
// Replicas down are skipped and named in Report.Down.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Producer.Static) > 0 {
		return Report{}, fmt.Errorf("repair: %w", producer.ErrStatic)
	}
	r := &runner{cfg: cfg, start: time.Now()}
	r.phase.Store("starting")
	cc, err := consul.New(cfg.Producer.Consul)
	if err != nil {
		return Report{}, err
	}
	if err := cc.Ping(ctx); err != nil {
		return Report{}, err
	}
	r.cc = cc
	if !cfg.DryRun {
		sess, err := rebalance.TakeLock(ctx, cc, cfg.Holder, cfg.Wait, func(holder string) {
			cfg.Logger.Info("waiting for the rebalance lock", "holder", holder)
			r.phase.Store("waiting for the lock held by " + holder)
		})
		if err != nil {
			return Report{}, err
		}
		defer rebalance.ReleaseLock(sess)
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-sess.Lost():
				cfg.Logger.Error("the rebalance lock's session was lost; stopping")
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	p, err := producer.New(ctx, cfg.Producer)
	if err != nil {
		return Report{}, err
	}
	defer p.Close()
	stop := r.reportProgress()
	defer stop()
	return r.run(ctx, p)
}

// runner is one Run.
type runner struct {
	cfg   Config
	cc    *consul.Client
	start time.Time
	phase atomic.Value // string
	eng   atomic.Pointer[engine]
	info  atomic.Pointer[runInfo]
}

// runInfo is what a run continues from.
type runInfo struct {
	prior Report // the counters of the interrupted run continued
	total int    // P
	base  int    // partitions done before this run continued
}

// run does the repair with p, once the lock is held.
func (r *runner) run(ctx context.Context, p *producer.Producer) (Report, error) {
	if !p.SettingsStored() {
		return Report{}, ErrNoSettings
	}
	s := p.Settings()
	if m := s.Migration; m != nil {
		return Report{}, fmt.Errorf("%w: %s of %s (id %s) is in phase %s; a repair runs outside migrations: finish it first with `%s`",
			ErrMigration, m.Kind, m.Node, m.ID, m.Phase, rebalance.ResumeCommand(m))
	}
	table, down, err := placement(s, p.Members())
	if err != nil {
		return Report{}, err
	}
	P := table.Partitions()
	st, err := r.state(ctx, s.Epoch, P)
	if err != nil {
		return Report{}, err
	}
	r.info.Store(&runInfo{prior: st.Report, total: P, base: st.LastPartition + 1})
	e := newEngine(p, table, down, options{dryRun: r.cfg.DryRun, maxKeyRate: r.cfg.MaxRate,
		maxPartitionRate: r.cfg.MaxPartitionRate, chunk: r.cfg.ChunkPartitions, batchKeys: r.cfg.BatchKeys, log: r.cfg.Logger})
	r.eng.Store(e)
	old, err := e.checkFeatures(ctx)
	if err != nil {
		return r.report(st), err
	}
	if len(old) > 0 {
		return r.report(st), fmt.Errorf("%w: %s (its PING features lack %q): upgrade it, then repair", ErrNoVersions, strings.Join(old, ", "), "versions")
	}
	r.phase.Store("comparing")
	err = e.compareRange(ctx, st.LastPartition+1, P, func(last int) error {
		st.LastPartition = last
		// A chunk done is recorded even when ctx was cancelled meanwhile
		// (an interrupted run then resumes after it, not a chunk before).
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), saveTimeout)
		defer cancel()
		return r.save(sctx, &st)
	})
	if err != nil {
		return r.report(st), err
	}
	st.Finished = true
	if err := r.save(ctx, &st); err != nil {
		return r.report(st), err
	}
	r.phase.Store("done")
	return r.report(st), nil
}

// placement returns the table of the layout of s (outside a migration)
// and the replicas to skip: nodes of the layout not passing, or passing
// but not ready (catching up after a restart).
func placement(s layout.Settings, members []consul.Member) (*sharding.Table, map[string]string, error) {
	names, down, err := layoutOf(s, members)
	if err != nil {
		return nil, nil, err
	}
	table, err := s.Table(names)
	if err != nil {
		return nil, nil, err
	}
	return table, down, nil
}

// layoutOf returns the nodes of the layout of s (outside a migration) and
// those to skip (see placement).
func layoutOf(s layout.Settings, members []consul.Member) ([]string, map[string]string, error) {
	passing := make([]string, 0, len(members))
	ready := map[string]bool{}
	for _, m := range members {
		passing = append(passing, m.Name)
		ready[m.Name] = m.Ready
	}
	names := s.Nodes(passing)
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("repair: no member in the layout: %w", producer.ErrNoNodes)
	}
	down := map[string]string{}
	for _, n := range names {
		switch r, ok := ready[n]; {
		case !ok:
			down[n] = "not passing its health check"
		case !r:
			down[n] = "catching up after a restart (not ready for reads)"
		}
	}
	return names, down, nil
}

// state returns the recorded run to continue, or a new one (recorded
// unless a dry run).
func (r *runner) state(ctx context.Context, epoch uint64, P int) (State, error) {
	var st State
	if r.cfg.DryRun {
		return State{LastPartition: -1, Partitions: P, Epoch: epoch}, nil
	}
	err := r.cc.GetJSON(ctx, consul.RepairKey, &st)
	switch {
	case errors.Is(err, consul.ErrNotFound):
	case err != nil:
		return st, err
	case st.Finished:
	case r.cfg.Restart:
		r.cfg.Logger.Info("starting over; the interrupted run is abandoned", "run", st.RunID, "last_partition", st.LastPartition)
	case st.Epoch != epoch || st.Partitions != P:
		r.cfg.Logger.Info("the layout changed since the interrupted run; starting over", "run", st.RunID,
			"epoch", st.Epoch, "now", epoch)
	default:
		r.cfg.Logger.Info("continuing an interrupted repair", "run", st.RunID, "last_partition", st.LastPartition)
		st.Report.Resumed = true
		return st, nil
	}
	now := time.Now().UTC()
	st = State{RunID: "repair-" + now.Format("20060102T150405.000Z"), Epoch: epoch, Partitions: P, LastPartition: -1,
		Started: now, Updated: now}
	return st, r.cc.PutJSON(ctx, consul.RepairKey, st)
}

// save records st with the counters so far (not in a dry run).
func (r *runner) save(ctx context.Context, st *State) error {
	if r.cfg.DryRun {
		return nil
	}
	st.Report = r.report(*st)
	st.Updated = time.Now().UTC()
	if err := r.cc.PutJSON(ctx, consul.RepairKey, st); err != nil {
		return fmt.Errorf("recording the repair's progress: %w", err)
	}
	return nil
}

// report is the report of the run so far: the engine's counters added to
// those of the interrupted run it continues.
func (r *runner) report(st State) Report {
	info := r.info.Load()
	if info == nil {
		info = &runInfo{}
	}
	rep := info.prior
	rep.RunID, rep.Resumed, rep.DryRun = st.RunID, st.Report.Resumed, r.cfg.DryRun
	rep.Partitions = info.total
	rep.Elapsed = info.prior.Elapsed + time.Since(r.start)
	e := r.eng.Load()
	if e == nil {
		return rep
	}
	now := e.report()
	rep.Compared += now.Compared
	rep.Differing += now.Differing
	rep.Partial += now.Partial
	rep.Skipped += now.Skipped
	rep.Superseded += now.Superseded
	rep.Failed += now.Failed
	rep.Keys += now.Keys
	rep.Scanned += now.Scanned
	rep.Fixed = addCounts(rep.Fixed, now.Fixed)
	for n, why := range now.Down {
		if rep.Down == nil {
			rep.Down = map[string]string{}
		}
		rep.Down[n] = why
	}
	return rep
}

// addCounts returns a new map of a's counts plus b's.
func addCounts(a, b map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(a)+len(b))
	for k, v := range a {
		out[k] += v
	}
	for k, v := range b {
		out[k] += v
	}
	return out
}

func (r *runner) snapshot() Progress {
	p := Progress{Phase: r.phase.Load().(string), Elapsed: time.Since(r.start)}
	if info := r.info.Load(); info != nil {
		p.Partitions, p.Done = info.total, info.base
	}
	if e := r.eng.Load(); e != nil {
		rep := r.report(State{})
		p.Done += int(e.done.Load())
		p.Differing, p.Fixed = rep.Differing, rep.FixedTotal()
	}
	return p
}

// reportProgress calls Config.Progress every ProgressEvery until stop,
// which calls it once more.
func (r *runner) reportProgress() (stop func()) {
	return rebalance.ReportProgress(r.cfg.ProgressEvery, r.cfg.Progress, r.snapshot)
}
