package node

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/hlc"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/internal/store"
)

// Config configures a Node. The zero value of every field means "use the
// default"; DefaultConfig returns the defaults filled in.
type Config struct {
	// Name identifies the node in logs, PING and STATS. Default "node".
	Name string
	// Bind is the address both endpoints bind. Default "127.0.0.1".
	Bind string
	// RequestPort is the TCP port of the ROUTER request endpoint; 0 binds a
	// free port (see Node.RequestEndpoint). Default 0.
	RequestPort int
	// IngestPort is the TCP port of the PULL ingest endpoint; 0 binds a free
	// port (see Node.IngestEndpoint). Default 0.
	IngestPort int
	// Limits bounds requests; zero fields take the protocol defaults.
	Limits protocol.Limits
	// MaxReplyBytes bounds a GET_ALL reply; a larger one is answered with
	// too_large (use SCAN). Default 256 MiB.
	MaxReplyBytes int
	// TransportMaxBytes is ZMQ_MAXMSGSIZE on both endpoints: libzmq drops
	// the connection of a peer that sends a bigger message, without reading
	// it. Messages between Limits.MaxMessageBytes and this size get a
	// too_large reply instead. Default 2 * Limits.MaxMessageBytes.
	TransportMaxBytes int64
	// SyncTimeout is how long a SYNC waits for its token when the request
	// gives no timeout_ms. Default 5s.
	SyncTimeout time.Duration
	// MaxSyncTimeout caps a request's timeout_ms. Default 60s.
	MaxSyncTimeout time.Duration
	// SyncTokens is how many applied SYNC tokens the node remembers (oldest
	// forgotten first). Default 65536.
	SyncTokens int
	// Linger is ZMQ_LINGER, set on every socket before it is closed: how
	// long pending replies may still be sent at shutdown. Default 100ms.
	Linger time.Duration
	// PollInterval is how often an idle loop checks for shutdown; Close
	// returns within about this long. Default 100ms.
	PollInterval time.Duration
	// Store holds the data. Default: a new store.Memory, closed by
	// Node.Close. A Store given here is not closed by the node.
	Store store.Store
	// Sync is when writes are made durable on a Store that buffers them
	// (one with a Sync method, e.g. durable.Store); see SyncPolicy.
	// Default SyncAlways.
	Sync SyncPolicy
	// MaxClockAhead bounds how far ahead of the node's clock a write's
	// version may be: a PUT or DELETE whose version is further in the
	// future is refused with bad_request and not applied, so one writer
	// with a wrong clock cannot push every key's versions ahead of the
	// others' (hlc.Clock.Observe). Default hlc.DefaultMaxAhead (1 minute).
	MaxClockAhead time.Duration
	// TombstoneTTL is how long the node keeps the tombstone of a deleted
	// key (from its version's time) before purging it; a replica away
	// longer than that could bring deleted keys back, so a node holding
	// replicas that was away longer drops its data and catches up from
	// empty (DropIfAway). Default 24h.
	TombstoneTTL time.Duration
	// Curve, when set, makes both endpoints CURVE servers that admit only
	// the allowlist's keys, and keeps maintenance operations to admin keys
	// (curve.go, docs/SECURITY.md). Default nil: plaintext, anyone served.
	Curve *curve.ServerConfig
	// Metrics turns on the histograms of Collector: request durations by
	// operation, ingest message sizes and SYNC waits, at the cost of two
	// clock reads per request. The counters and gauges of Collector are
	// kept either way (STATS reports them). Default false.
	Metrics bool
	// Logger receives structured logs. Default: discard.
	Logger *slog.Logger
}

// Defaults.
const (
	DefaultName           = "node"
	DefaultBind           = "127.0.0.1"
	DefaultMaxReplyBytes  = 256 << 20
	DefaultSyncTimeout    = 5 * time.Second
	DefaultMaxSyncTimeout = 60 * time.Second
	DefaultSyncTokens     = 1 << 16
	DefaultLinger         = 100 * time.Millisecond
	DefaultPollInterval   = 100 * time.Millisecond
	DefaultTombstoneTTL   = 24 * time.Hour
)

// DefaultConfig returns a Config with every default filled in, except
// Store and Logger, which New creates when nil.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

func (c Config) withDefaults() Config {
	c.Name = cmp.Or(c.Name, DefaultName)
	c.Bind = cmp.Or(c.Bind, DefaultBind)
	c.Limits = c.Limits.WithDefaults()
	c.MaxReplyBytes = cmp.Or(c.MaxReplyBytes, DefaultMaxReplyBytes)
	c.TransportMaxBytes = cmp.Or(c.TransportMaxBytes, 2*int64(c.Limits.MaxMessageBytes))
	c.SyncTimeout = cmp.Or(c.SyncTimeout, DefaultSyncTimeout)
	c.MaxSyncTimeout = cmp.Or(c.MaxSyncTimeout, DefaultMaxSyncTimeout)
	c.SyncTokens = cmp.Or(c.SyncTokens, DefaultSyncTokens)
	c.Linger = cmp.Or(c.Linger, DefaultLinger)
	c.PollInterval = cmp.Or(c.PollInterval, DefaultPollInterval)
	c.Sync = cmp.Or(c.Sync, SyncAlways)
	c.MaxClockAhead = cmp.Or(c.MaxClockAhead, hlc.DefaultMaxAhead)
	c.TombstoneTTL = cmp.Or(c.TombstoneTTL, DefaultTombstoneTTL)
	return c
}

// Validate reports every invalid field of c (after defaults are applied).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	for _, p := range []struct {
		name string
		port int
	}{{"RequestPort", c.RequestPort}, {"IngestPort", c.IngestPort}} {
		if p.port < 0 || p.port > 65535 {
			errs = append(errs, fmt.Errorf("%s %d is not a TCP port", p.name, p.port))
		}
	}
	if c.RequestPort != 0 && c.RequestPort == c.IngestPort {
		errs = append(errs, fmt.Errorf("RequestPort and IngestPort are both %d", c.RequestPort))
	}
	l := c.Limits
	if l.MaxKeyBytes < 0 || l.MaxValueBytes < 0 || l.MaxMessageBytes < 0 || l.MaxBatchOps < 0 || l.MaxScanLimit < 0 {
		errs = append(errs, errors.New("limits must not be negative"))
	}
	if c.TransportMaxBytes > 0 && c.TransportMaxBytes < int64(l.MaxMessageBytes) {
		errs = append(errs, fmt.Errorf("TransportMaxBytes %d is below Limits.MaxMessageBytes %d", c.TransportMaxBytes, l.MaxMessageBytes))
	}
	if c.MaxReplyBytes < 0 || c.SyncTimeout < 0 || c.MaxSyncTimeout < 0 || c.SyncTokens < 0 || c.Linger < 0 || c.PollInterval < 0 ||
		c.MaxClockAhead < 0 || c.TombstoneTTL < 0 {
		errs = append(errs, errors.New("sizes and durations must not be negative"))
	}
	if _, err := ParseSyncPolicy(string(c.Sync)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
