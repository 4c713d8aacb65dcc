package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/store"
)

// Sentinel errors.
var (
	// ErrStarted is returned by a second call to Start.
	ErrStarted = errors.New("node: already started")
	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("node: closed")
)

const wakeEndpoint = "inproc://zshard-node-wake"

// Node is one running storage node. Create it with New, run it with Start,
// stop it with Close. Its methods are safe for concurrent use.
type Node struct {
	cfg       Config
	log       *slog.Logger
	store     store.Store
	ownsStore bool
	syncer    syncer    // the store's Sync, nil if it has none or Sync is SyncNone
	batcher   bulkStore // the store, when its ApplyMany is cheaper than Applies; else nil
	clock     *hlc.Clock
	stats     counters
	hist      *histograms // nil unless Config.Metrics
	tokens    *tokenSet
	started   time.Time
	catchup   atomic.Pointer[CatchUp] // nil unless catching up
	curve     *curveState             // nil without CURVE

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu        sync.Mutex // guards state below
	running   bool
	closed    bool
	zctx      *zmq.Context
	reqEP     string
	ingestEP  string
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
	wakeTx    *zmq.Socket // owned by the ingest loop
}

// New validates cfg and returns a Node that is not yet serving.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("node: invalid config: %w", err)
	}
	cfg = cfg.withDefaults()
	n := &Node{cfg: cfg, log: cfg.Logger, store: cfg.Store, tokens: newTokenSet(cfg.SyncTokens),
		clock: hlc.NewClock(hlc.WriterOf(cfg.Name), cfg.MaxClockAhead)}
	if n.log == nil {
		n.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	n.log = n.log.With("node", cfg.Name)
	if err := n.newCurve(cfg.Curve); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if cfg.Metrics {
		n.hist = newHistograms()
	}
	if n.store == nil {
		n.store = store.NewMemory(store.MemoryOptions{})
		n.ownsStore = true
	}
	if s, ok := n.store.(syncer); ok && cfg.Sync != SyncNone {
		n.syncer = s
	}
	if b, ok := n.store.(bulkStore); ok {
		n.batcher = b
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// Start binds both endpoints and starts serving. It returns once the
// endpoints are bound; use RequestEndpoint and IngestEndpoint to learn
// their addresses.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	if n.running {
		return ErrStarted
	}
	zctx, err := zmq.NewContext()
	if err != nil {
		return fmt.Errorf("node: zmq context: %w", err)
	}
	// Sockets are created and bound here, then handed to the goroutine
	// that owns them from then on (the go statement orders the handover).
	var socks []*zmq.Socket
	fail := func(err error) error {
		for _, s := range socks {
			_ = s.SetLinger(0)
			_ = s.Close()
		}
		if n.curve != nil && n.curve.srv != nil {
			n.curve.srv.Close()
		}
		_ = zctx.Term()
		return err
	}
	newSock := func(t zmq.Type) (*zmq.Socket, error) {
		s, err := zctx.NewSocket(t)
		if err != nil {
			return nil, err
		}
		socks = append(socks, s)
		if err := s.SetLinger(n.cfg.Linger); err != nil {
			return nil, err
		}
		return s, nil
	}
	router, err := newSock(zmq.ROUTER)
	if err != nil {
		return fail(fmt.Errorf("node: router socket: %w", err))
	}
	if err := n.setupTCP(router); err != nil {
		return fail(err)
	}
	// Replies to peers that are gone are dropped, never an error or a block.
	if err := router.SetRouterMandatory(0); err != nil {
		return fail(err)
	}
	pull, err := newSock(zmq.PULL)
	if err != nil {
		return fail(fmt.Errorf("node: pull socket: %w", err))
	}
	if err := n.setupTCP(pull); err != nil {
		return fail(err)
	}
	curveLoop, err := n.secure(zctx, router, pull)
	if err != nil {
		return fail(err)
	}
	// CURVE options must be set before the endpoints bind.
	if n.reqEP, err = n.bind(router, n.cfg.RequestPort); err != nil {
		return fail(err)
	}
	if n.ingestEP, err = n.bind(pull, n.cfg.IngestPort); err != nil {
		return fail(err)
	}
	wakeRx, err := newSock(zmq.PULL)
	if err != nil {
		return fail(err)
	}
	if err := wakeRx.Bind(wakeEndpoint); err != nil {
		return fail(fmt.Errorf("node: bind %s: %w", wakeEndpoint, err))
	}
	wakeTx, err := newSock(zmq.PUSH)
	if err != nil {
		return fail(err)
	}
	if err := wakeTx.Connect(wakeEndpoint); err != nil {
		return fail(fmt.Errorf("node: connect %s: %w", wakeEndpoint, err))
	}
	if err := pull.SetRcvtimeo(n.cfg.PollInterval); err != nil {
		return fail(err)
	}
	if err := router.SetRcvtimeo(n.cfg.PollInterval); err != nil {
		return fail(err)
	}

	n.zctx = zctx
	n.running = true
	n.started = time.Now()
	n.goLoop("request", func() { n.requestLoop(router, wakeRx) })
	n.goLoop("ingest", func() { n.ingestLoop(pull, wakeTx) })
	n.goLoop("purge", n.purgeLoop)
	if curveLoop != nil {
		n.goLoop("curve", curveLoop)
	}
	if as, ok := n.store.(aliveStore); ok {
		n.goLoop("alive", func() { n.aliveLoop(as) })
	}
	n.log.Info("node serving", "request", n.reqEP, "ingest", n.ingestEP)
	return nil
}

func (n *Node) setupTCP(s *zmq.Socket) error {
	if err := s.SetMaxmsgsize(n.cfg.TransportMaxBytes); err != nil {
		return fmt.Errorf("node: ZMQ_MAXMSGSIZE: %w", err)
	}
	if strings.Contains(n.cfg.Bind, ":") {
		if err := s.SetIpv6(true); err != nil {
			return fmt.Errorf("node: ZMQ_IPV6: %w", err)
		}
	}
	return nil
}

func (n *Node) bind(s *zmq.Socket, port int) (string, error) {
	host := n.cfg.Bind
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	p := "*"
	if port != 0 {
		p = strconv.Itoa(port)
	}
	ep := "tcp://" + host + ":" + p
	if err := s.Bind(ep); err != nil {
		return "", fmt.Errorf("node: bind %s: %w", ep, err)
	}
	return s.GetLastEndpoint()
}

// goLoop runs f on a goroutine tracked by Close.
func (n *Node) goLoop(name string, f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer func() {
			if r := recover(); r != nil {
				n.log.Error("loop panicked", "loop", name, "panic", r)
				panic(r)
			}
		}()
		f()
	}()
}

// RequestEndpoint returns the bound request endpoint, e.g.
// "tcp://127.0.0.1:2000"; "" before Start.
func (n *Node) RequestEndpoint() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.reqEP
}

// IngestEndpoint returns the bound ingest endpoint; "" before Start.
func (n *Node) IngestEndpoint() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ingestEP
}

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Name }

// Bind returns the address both endpoints bind (Config.Bind, or its
// default).
func (n *Node) Bind() string { return n.cfg.Bind }

// Store returns the node's store.
func (n *Node) Store() store.Store { return n.store }

// Close stops serving: the loops finish the message in hand, answer
// pending SYNCs with an error, close their sockets (after LINGER), and the
// ZeroMQ context is terminated; a store that records when its node was up
// (durable) records it a last time. Close is idempotent and returns once
// everything has stopped.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		running := n.running
		n.mu.Unlock()
		n.cancel()
		if running {
			n.wg.Wait()
			n.closeErr = n.zctx.Term()
			if as, ok := n.store.(aliveStore); ok {
				if err := as.MarkAlive(time.Now()); err != nil {
					n.log.Debug("cannot record that the node was up", "err", err)
				}
			}
		}
		if n.ownsStore {
			n.closeErr = errors.Join(n.closeErr, n.store.Close())
		}
		n.log.Info("node stopped")
	})
	return n.closeErr
}

func (n *Node) closing() bool { return n.ctx.Err() != nil }

func isErrno(err error, e syscall.Errno) bool {
	return zmq.AsErrno(err) == zmq.Errno(e)
}

func closeSocket(s *zmq.Socket, linger time.Duration) {
	_ = s.SetLinger(linger)
	_ = s.Close()
}
