package producer

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/protocol"
	"github.com/zshard/zshard/layout"
	"github.com/zshard/zshard/sharding"
)

// Defaults of Config.
const (
	DefaultRequestTimeout = 2 * time.Second
	DefaultSendTimeout    = 500 * time.Millisecond
	DefaultSyncTimeout    = 30 * time.Second
	DefaultRetries        = 1
	DefaultBatchOps       = 512
	DefaultBatchBytes     = 128 << 10
	DefaultWindow         = 64
	DefaultPipelineBatch  = 64
	DefaultScanPage       = 1000
	DefaultPushHWM        = 1000
	DefaultSuspectFor     = 3 * time.Second
)

// Config configures a Producer. The zero value of every field means its
// default; DefaultConfig returns them filled in.
type Config struct {
	// Consul is the membership client configuration (agent address, service
	// name, KV prefix). Default: consul.DefaultConfig().
	Consul consul.Config
	// Static, when not empty, is a fixed membership routed to without
	// Consul (see StaticMembers for the layout of `server_consumer
	// --static`): every member passes and is ready, Settings are the
	// cluster settings as given, and Consul, NoInit and the watches are
	// not used. Default nil: membership and settings come from Consul.
	Static []consul.Member
	// Settings are stored as the cluster settings if the cluster has none yet
	// (check-and-set: the first producer wins). Zero fields take the sharding
	// defaults. When the cluster already has settings they are used instead,
	// and a disagreement is logged as a warning (every producer of a cluster
	// must place keys identically). Default: sharding defaults, R = 0.
	Settings layout.Settings
	// NoInit leaves the cluster settings alone when none are stored: the
	// producer then places with Settings until some producer stores them (the
	// settings watch picks them up). For read-only tools, so that looking at
	// a new cluster does not fix its layout. Default false: store Settings.
	NoInit bool
	// Codec encodes requests, and the raw values passed in and returned are
	// in it. Default protocol.JSON.
	Codec protocol.Codec
	// RequestTimeout bounds one attempt of one request: the wait for its
	// reply. Default 2s.
	RequestTimeout time.Duration
	// SendTimeout bounds one send (ZMQ_SNDTIMEO). With ZMQ_IMMEDIATE a send to
	// a node with no live connection blocks, so this is how long a dead node
	// can hold a request up. A bulk push retries timed-out sends for up to
	// RequestTimeout (a new connection is still being set up, or the node's
	// queue is full) before it gives the node up. Default 500ms.
	SendTimeout time.Duration
	// SyncTimeout bounds a Bulk.Sync barrier. Default 30s.
	SyncTimeout time.Duration
	// Retries is how many more times a request that failed in transport is
	// tried on the same node, on a fresh socket: reads whether or not they
	// were sent, PUT and DELETE only when they were never sent (see
	// retryable). Default 1; negative means none.
	Retries int
	// WriteConsistency is how many of a key's intended replicas (R+1, down
	// ones included) must acknowledge a Put or Delete, and so how many must
	// be passing for one to be sent at all. During a migration it applies
	// to the key's replicas in the layout reads go to first; the other is
	// written where it is up. Default Quorum: a majority (1 of 1 at R=0,
	// 2 of 3 at R=2).
	WriteConsistency Consistency
	// ReadConsistency is how many replicas a Get asks. Default One.
	ReadConsistency Consistency
	// BatchOps and BatchBytes bound one BATCH message of a Bulk; a batch is
	// sent when either is reached. Defaults 512 ops, 128 KiB.
	BatchOps   int
	BatchBytes int
	// Window is how many request messages Do keeps in flight per node.
	// Default 64.
	Window int
	// PipelineBatch is how many operations Do packs into one BATCH request
	// (bounded by about BatchBytes of keys and values too). 1 sends every
	// operation as its own request. Default 64.
	PipelineBatch int
	// ScanPage is the SCAN page size of Scan and GetAll. Default 1000.
	ScanPage int
	// PushHWM is ZMQ_SNDHWM of a Bulk's PUSH sockets, in messages. Default 1000.
	PushHWM int
	// SuspectFor is how long a node that failed a request is asked last by
	// reads. Default 3s.
	SuspectFor time.Duration
	// Curve, when set, connects to every node with CURVE as this identity,
	// expecting the key the node publishes (Consul Meta "curve") unless
	// Curve.ServerKey is set. A node that refuses the key fails the
	// operations sent to it with an error naming the node and wrapping
	// curve.ErrNotAuthorized. Default nil: plaintext.
	Curve *curve.Client
	// Logger receives warnings (settings disagreement, membership changes).
	// Default: discard.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with every default filled in.
func DefaultConfig() Config {
	return Config{}.withDefaults()
}

func (c Config) withDefaults() Config {
	def := sharding.DefaultConfig()
	c.Settings.Algorithm = cmp.Or(c.Settings.Algorithm, def.Algorithm)
	c.Settings.Partitions = cmp.Or(c.Settings.Partitions, def.Partitions)
	if c.Settings.VNodes == 0 && c.Settings.Algorithm == sharding.Consistent {
		c.Settings.VNodes = def.VNodes
	}
	c.Codec = cmp.Or(c.Codec, protocol.JSON)
	c.WriteConsistency = cmp.Or(c.WriteConsistency, Quorum)
	c.ReadConsistency = cmp.Or(c.ReadConsistency, One)
	c.RequestTimeout = cmp.Or(c.RequestTimeout, DefaultRequestTimeout)
	c.SendTimeout = cmp.Or(c.SendTimeout, DefaultSendTimeout)
	c.SyncTimeout = cmp.Or(c.SyncTimeout, DefaultSyncTimeout)
	switch {
	case c.Retries == 0:
		c.Retries = DefaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	c.BatchOps = cmp.Or(c.BatchOps, DefaultBatchOps)
	c.BatchBytes = cmp.Or(c.BatchBytes, DefaultBatchBytes)
	c.Window = cmp.Or(c.Window, DefaultWindow)
	c.PipelineBatch = cmp.Or(c.PipelineBatch, DefaultPipelineBatch)
	c.ScanPage = cmp.Or(c.ScanPage, DefaultScanPage)
	c.PushHWM = cmp.Or(c.PushHWM, DefaultPushHWM)
	c.SuspectFor = cmp.Or(c.SuspectFor, DefaultSuspectFor)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Consul.Logger == nil {
		c.Consul.Logger = c.Logger
	}
	return c
}

// Validate reports every invalid field of c (after defaults are applied).
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if len(c.Static) > 0 {
		if err := validateStatic(c.Static); err != nil {
			errs = append(errs, err)
		}
	} else if err := c.Consul.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Settings.Config().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("producer: settings: %w", err))
	}
	if !c.Codec.Valid() {
		errs = append(errs, fmt.Errorf("producer: codec %d: want protocol.JSON or protocol.Msgpack", c.Codec))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"RequestTimeout", c.RequestTimeout}, {"SendTimeout", c.SendTimeout}, {"SyncTimeout", c.SyncTimeout}, {"SuspectFor", c.SuspectFor}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("producer: %s %v: must be positive", d.name, d.v))
		}
	}
	if !c.WriteConsistency.Valid() || !c.ReadConsistency.Valid() {
		errs = append(errs, fmt.Errorf("producer: consistency %v/%v: want One, Quorum or All", c.WriteConsistency, c.ReadConsistency))
	}
	if c.BatchOps < 1 || c.BatchOps > protocol.DefaultMaxBatchOps {
		errs = append(errs, fmt.Errorf("producer: BatchOps %d: want 1..%d", c.BatchOps, protocol.DefaultMaxBatchOps))
	}
	if c.BatchBytes < 1 || c.BatchBytes > protocol.DefaultMaxMessageBytes/2 {
		errs = append(errs, fmt.Errorf("producer: BatchBytes %d: want 1..%d", c.BatchBytes, protocol.DefaultMaxMessageBytes/2))
	}
	if c.Window < 1 {
		errs = append(errs, fmt.Errorf("producer: Window %d: must be >= 1", c.Window))
	}
	if c.PipelineBatch < 1 || c.PipelineBatch > protocol.DefaultMaxBatchOps {
		errs = append(errs, fmt.Errorf("producer: PipelineBatch %d: want 1..%d", c.PipelineBatch, protocol.DefaultMaxBatchOps))
	}
	if c.ScanPage < 1 || c.ScanPage > protocol.DefaultMaxScanLimit {
		errs = append(errs, fmt.Errorf("producer: ScanPage %d: want 1..%d", c.ScanPage, protocol.DefaultMaxScanLimit))
	}
	if c.PushHWM < 1 {
		errs = append(errs, fmt.Errorf("producer: PushHWM %d: must be >= 1", c.PushHWM))
	}
	return errors.Join(errs...)
}
