package producer

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	zmq "github.com/pebbe/zmq4"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// Producer routes operations to the nodes of a zshard cluster. Create it with
// New and release it with Close. It is safe for concurrent use.
type Producer struct {
	cfg   Config
	log   *slog.Logger
	cc    *consul.Client
	zctx  *zmq.Context
	codec protocol.Codec
	// instance prefixes SYNC tokens so two producers never share one.
	instance string
	nextID   atomic.Uint64
	// clock versions every write this producer sends (hlc), and advances
	// past every version it reads.
	clock *hlc.Clock

	// st is the routing snapshot every operation loads once.
	st atomic.Pointer[state]
	// stored is false while the cluster has no stored settings (NoInit).
	stored atomic.Bool
	// mu serialises rebuilds of st (the two watches, New).
	mu       sync.Mutex
	members  []consul.Member
	settings layout.Settings
	tables   []cachedTable // recent placement tables, oldest first

	// gate counts calls in progress (and open Bulks) so Close can wait.
	gateMu  sync.Mutex
	gateCnd *sync.Cond
	calls   int
	closed  bool
	bulks   map[*Bulk]struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

// state is an immutable routing snapshot.
type state struct {
	settings layout.Settings
	table    *sharding.Table // nil when there is no member
	// alt is the other layout of a migration in progress (see layout.go):
	// reads fall back to it, and writes also go to it when writeAlt is set.
	alt      *sharding.Table
	writeAlt bool
	members  []consul.Member // sorted by name
	peers    map[string]*peer
	// unready names the members that are catching up (consul.Member.Ready
	// false): writes go to them, reads do not.
	unready map[string]bool
	// write is the write consistency (Config.WriteConsistency).
	write Consistency
}

// writeNeed returns how many of n replicas a write needs.
func (st *state) writeNeed(n int) int { return st.write.Need(n) }

// New connects to Consul, reads (or initialises) the cluster settings and the
// passing members, and starts following both. A cluster with no member yet is
// not an error: operations fail with ErrNoNodes until one registers. With
// Config.Static, New uses neither: it routes to the static members with
// Config.Settings.
func New(ctx context.Context, cfg Config) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	var (
		cc       *consul.Client
		settings = cfg.Settings
		stored   bool
		members  []consul.Member
		err      error
	)
	if len(cfg.Static) > 0 {
		members = staticMembers(cfg.Static)
	} else if cc, settings, stored, members, err = fromConsul(ctx, cfg); err != nil {
		return nil, err
	}
	zctx, err := zmq.NewContext()
	if err != nil {
		return nil, fmt.Errorf("producer: zmq context: %w", err)
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	p := &Producer{
		cfg: cfg, log: cfg.Logger, cc: cc, zctx: zctx, codec: cfg.Codec,
		instance: hex.EncodeToString(rnd[:]),
		clock:    hlc.NewClock(hlc.RandomWriter(), 0),
		settings: settings, members: members,
		bulks: map[*Bulk]struct{}{},
	}
	p.gateCnd = sync.NewCond(&p.gateMu)
	p.stored.Store(stored)
	if err := p.rebuild(); err != nil {
		_ = zctx.Term()
		return nil, err
	}
	wctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if cc == nil {
		return p, nil
	}
	// A watch ends early only when a Consul ACL refuses it (the token lost
	// its rights): the producer keeps the view it has and says so.
	p.goTracked(func() {
		if err := cc.WatchMembers(wctx, func(m []consul.Member) { p.onMembers(m) }); err != nil {
			p.log.Error("no longer following the members", "err", err)
		}
	})
	p.goTracked(func() {
		err := cc.WatchSettings(wctx, func(s layout.Settings, exists bool) {
			if exists {
				p.onSettings(s)
			}
		})
		if err != nil {
			p.log.Error("no longer following the settings", "err", err)
		}
	})
	return p, nil
}

// fromConsul connects to Consul and reads the cluster settings (storing
// cfg.Settings when there are none, unless cfg.NoInit) and the passing
// members.
func fromConsul(ctx context.Context, cfg Config) (*consul.Client, layout.Settings, bool, []consul.Member, error) {
	cc, err := consul.New(cfg.Consul)
	if err != nil {
		return nil, layout.Settings{}, false, nil, err
	}
	settings, stored, err := loadSettings(ctx, cc, cfg.Settings, cfg.NoInit, cfg.Logger)
	if err != nil {
		return nil, settings, false, nil, err
	}
	if stored && settings.Legacy() {
		if settings, err = recordMembers(ctx, cc, settings); err != nil {
			return nil, settings, false, nil, err
		}
	}
	members, err := cc.Members(ctx)
	if err != nil {
		return nil, settings, false, nil, fmt.Errorf("producer: read members: %w", err)
	}
	return cc, settings, stored, members, nil
}

// loadSettings returns the cluster settings, storing want first if there are
// none (unless noInit: then want is used as is). Stored settings win over
// want; a difference is logged.
func loadSettings(ctx context.Context, cc *consul.Client, want layout.Settings, noInit bool, log *slog.Logger) (layout.Settings, bool, error) {
	s, _, err := cc.Settings(ctx)
	if errors.Is(err, consul.ErrNotFound) && noInit {
		return want, false, nil
	}
	if errors.Is(err, consul.ErrNotFound) {
		var created bool
		s, created, err = cc.InitSettings(ctx, want)
		if err == nil && created {
			log.Info("initialised cluster settings", "algorithm", s.Algorithm, "partitions", s.Partitions,
				"replicas", s.Replicas, "vnodes", s.VNodes)
		}
	}
	if err != nil {
		return s, false, fmt.Errorf("producer: cluster settings: %w", err)
	}
	if err := s.Config().Validate(); err != nil {
		return s, true, fmt.Errorf("producer: stored cluster settings %+v: %w", s, err)
	}
	if d := SettingsDiff(want, s); d != "" {
		log.Warn("cluster settings differ from the requested ones; using the stored settings so every producer places keys identically",
			"differences", d)
	}
	return s, true, nil
}

// SettingsDiff describes how the placement fields of got differ from want
// ("" when they agree): algorithm, partitions, replicas, and vnodes for the
// consistent ring. Zero partitions or vnodes mean the sharding defaults.
func SettingsDiff(want, got layout.Settings) string {
	def := sharding.DefaultConfig()
	want.Partitions = cmp.Or(want.Partitions, def.Partitions)
	want.VNodes = cmp.Or(want.VNodes, def.VNodes)
	got.VNodes = cmp.Or(got.VNodes, def.VNodes)
	d := ""
	add := func(name string, w, g any) {
		if d != "" {
			d += ", "
		}
		d += fmt.Sprintf("%s: requested %v, cluster has %v", name, w, g)
	}
	if want.Algorithm != got.Algorithm {
		add("algorithm", want.Algorithm, got.Algorithm)
	}
	if want.Partitions != got.Partitions {
		add("partitions", want.Partitions, got.Partitions)
	}
	if want.Replicas != got.Replicas {
		add("replicas", want.Replicas, got.Replicas)
	}
	if got.Algorithm == sharding.Consistent && want.Algorithm == got.Algorithm && want.VNodes != got.VNodes {
		add("vnodes", want.VNodes, got.VNodes)
	}
	return d
}

func (p *Producer) goTracked(f func()) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		f()
	}()
}

func (p *Producer) onMembers(m []consul.Member) {
	p.mu.Lock()
	legacy := p.settings.Legacy()
	p.mu.Unlock()
	if legacy {
		p.leaveLegacy()
	}
	p.mu.Lock()
	p.members = m
	p.mu.Unlock()
	if err := p.rebuild(); err != nil {
		p.log.Error("placement not updated after a membership change", "err", err)
	}
}

// leaveLegacy runs before a membership change is applied while the
// settings record no members (see layout.go): it records the intended
// members in the stored settings (Config.NoInit does not prevent it: it
// keeps a producer from storing settings, not from recording the members of
// settings stored), or finds them recorded meanwhile by another process,
// so that they are applied before the change is.
func (p *Producer) leaveLegacy() {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.RequestTimeout)
	defer cancel()
	s, _, err := p.cc.Settings(ctx)
	if err == nil && s.Legacy() {
		s, err = recordMembers(ctx, p.cc, s)
	}
	if err != nil {
		if !errors.Is(err, consul.ErrNotFound) {
			p.log.Warn("recording the cluster's members", "err", err)
		}
		return
	}
	if s.Legacy() || s.Config().Validate() != nil {
		return
	}
	p.mu.Lock()
	if p.settings.Legacy() {
		p.settings = s
	}
	p.mu.Unlock()
	p.stored.Store(true)
}

// recordMembers records the intended members in the settings s of a
// cluster that has none (consul.Client.RecordMembers) and returns the
// settings stored. While there is no node at all it returns s unchanged.
func recordMembers(ctx context.Context, cc *consul.Client, s layout.Settings) (layout.Settings, error) {
	rec, err := cc.RecordMembers(ctx)
	if err != nil {
		return s, fmt.Errorf("producer: recording the cluster's members: %w", err)
	}
	if err := rec.Config().Validate(); err != nil {
		return s, fmt.Errorf("producer: stored cluster settings %+v: %w", rec, err)
	}
	return rec, nil
}

func (p *Producer) onSettings(s layout.Settings) {
	if err := s.Config().Validate(); err != nil {
		p.log.Error("ignoring invalid cluster settings", "settings", fmt.Sprintf("%+v", s), "err", err)
		return
	}
	p.mu.Lock()
	p.settings = s
	p.mu.Unlock()
	p.stored.Store(true)
	if err := p.rebuild(); err != nil {
		p.log.Error("placement not updated after a settings change", "err", err)
	}
}

// rebuild builds a new snapshot from p.members and p.settings, reusing the
// peers whose endpoints did not change, swaps it in and closes the peers
// that left.
func (p *Producer) rebuild() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.isClosed() {
		return nil
	}
	old := p.st.Load()
	next := &state{settings: p.settings, members: p.members, peers: make(map[string]*peer, len(p.members)),
		write: p.cfg.WriteConsistency}
	if err := p.layout(next); err != nil {
		return err
	}
	for _, m := range p.members {
		if !m.Ready {
			if next.unready == nil {
				next.unready = map[string]bool{}
			}
			next.unready[m.Name] = true
		}
		if old != nil {
			if pr, ok := old.peers[m.Name]; ok && pr.rep == m.RepURL && pr.pull == m.PullURL && pr.curve == m.Curve {
				next.peers[m.Name] = pr
				continue
			}
		}
		next.peers[m.Name] = newPeer(p, m)
	}
	p.st.Store(next)
	if old != nil {
		for name, pr := range old.peers {
			if next.peers[name] != pr {
				pr.close()
			}
		}
		if len(old.members) != len(next.members) || !old.settings.Equal(next.settings) {
			p.log.Info("placement updated", "members", len(next.members), "algorithm", next.settings.Algorithm,
				"replicas", next.settings.Replicas, "epoch", next.settings.Epoch)
		}
	}
	return nil
}

// enter registers a call in progress; it fails once Close has begun.
func (p *Producer) enter() error {
	p.gateMu.Lock()
	defer p.gateMu.Unlock()
	if p.closed {
		return ErrClosed
	}
	p.calls++
	return nil
}

func (p *Producer) leave() {
	p.gateMu.Lock()
	p.calls--
	if p.calls == 0 {
		p.gateCnd.Broadcast()
	}
	p.gateMu.Unlock()
}

func (p *Producer) isClosed() bool {
	p.gateMu.Lock()
	defer p.gateMu.Unlock()
	return p.closed
}

// Close stops following Consul, waits for the calls in progress (each is
// bounded by its timeouts), closes the Bulks still open without flushing them,
// closes every socket and terminates the ZeroMQ context.
// It is safe to call more than once.
func (p *Producer) Close() error {
	var err error
	p.once.Do(func() {
		p.gateMu.Lock()
		p.closed = true
		for p.calls > 0 {
			p.gateCnd.Wait()
		}
		bulks := p.bulks
		p.bulks = nil
		p.gateMu.Unlock()
		for b := range bulks {
			b.close(false)
		}
		p.cancel()
		p.wg.Wait()
		p.mu.Lock()
		if st := p.st.Load(); st != nil {
			for _, pr := range st.peers {
				pr.close()
			}
		}
		p.mu.Unlock()
		err = p.zctx.Term()
	})
	return err
}

// Codec returns the codec of requests and of the raw values.
func (p *Producer) Codec() protocol.Codec { return p.codec }

// PutOf returns the PUT (with "if_absent" when ifAbsent) that stores
// value, encoded in codec c, exactly as it is: a plain PUT when c is the
// producer's codec, else a raw one ("raw_value" and "value_codec").
func (p *Producer) PutOf(key string, value []byte, c protocol.Codec, ifAbsent bool) protocol.Request {
	req := protocol.Request{Op: protocol.OpPut, Key: key, Value: value, IfAbsent: ifAbsent}
	if c != p.codec {
		req.ValueCodec = c
	}
	return req
}

// Settings returns the cluster settings in use.
func (p *Producer) Settings() layout.Settings { return p.st.Load().settings }

// SettingsStored reports whether the settings in use are stored in Consul;
// false with Config.NoInit on a cluster no producer has written to yet, and
// for a static cluster (Config.Static), whose settings are the producer's.
func (p *Producer) SettingsStored() bool { return p.stored.Load() }

// Members returns the passing members in use, sorted by name.
func (p *Producer) Members() []consul.Member {
	return append([]consul.Member(nil), p.st.Load().members...)
}

// Table returns the placement in use; nil while the cluster has no member.
func (p *Producer) Table() *sharding.Table { return p.st.Load().table }

// Replicas returns the preference list of key: the nodes that hold it, owner
// first. It is empty while the cluster has no member.
func (p *Producer) Replicas(key string) []string {
	t := p.st.Load().table
	if t == nil {
		return nil
	}
	return t.AppendPrefs(nil, key)
}

// targets returns the peers a write of key goes to: its preference list,
// owner first (and, during a migration, the other layout's too).
func (st *state) targets(key string, buf []string) ([]*peer, error) {
	return st.targetsInto(nil, key, buf)
}

// targetsInto appends the peers a write of key goes to, to dst.
func (st *state) targetsInto(dst []*peer, key string, buf []string) ([]*peer, error) {
	return st.routeInto(dst, key, buf, true)
}
