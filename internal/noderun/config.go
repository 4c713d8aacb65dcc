package noderun

import (
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/zshard/zshard/consul"
	"github.com/zshard/zshard/internal/curve"
	"github.com/zshard/zshard/internal/node"
)

// DefaultCatchUpSettle is Config.CatchUpSettle's default.
const DefaultCatchUpSettle = 2 * time.Second

// pingTimeout bounds the health check's PING of the node's own request
// endpoint.
const pingTimeout = time.Second

// deregisterTimeout bounds the deregistration when the node stops.
const deregisterTimeout = 5 * time.Second

// Config configures one node run: the node itself, its storage and, when
// Consul is set, its registration. Zero values mean the documented
// defaults.
type Config struct {
	// Node configures the node. Node.Store, when set, is the caller's: the
	// run neither opens nor closes it.
	Node node.Config
	// DataDir is the node's data directory. With Node.Store nil, the run
	// opens the durable store there (with Node.Sync and CacheBytes) and
	// closes it after the node. With Consul and without SkipLayout, it also
	// turns on the layout check. Default "": an in-memory node (unless
	// Node.Store is set), which starts empty. With Consul, without
	// SkipLayout and in a cluster whose R > 0, every node, durable or in
	// memory, catches up from its replicas before it serves reads.
	DataDir string
	// CacheBytes is the block cache of the durable store the run opens.
	// Default durable.DefaultCacheBytes.
	CacheBytes int64
	// SkipLayout turns off the layout check and the catch-up of a node
	// registered in Consul: for nodes outside the cluster's layout that
	// start empty, such as a benchmark's private nodes. Default false.
	SkipLayout bool
	// Consul registers the node when not nil.
	Consul *consul.Client
	// Host is recorded in the registration's Meta "host". Default "".
	Host string
	// Advertise is the address other hosts reach this node at, written into
	// the registered endpoint URLs. Default: the bind address, or, when that
	// is a wildcard (0.0.0.0, ::), this host's first non-loopback address,
	// looked up again before every heartbeat.
	Advertise string
	// TTL of the health check. Default consul.DefaultTTL.
	TTL time.Duration
	// Ready, when not nil, receives one line once the node serves and is
	// registered: READY <name> <request endpoint> <ingest endpoint>.
	Ready io.Writer
	// CatchUpSettle is how long a catching-up node waits, once it sees
	// itself passing in Consul, before it scans its replicas: writes routed
	// by producers that had not seen it yet land on the replicas meanwhile.
	// Default DefaultCatchUpSettle.
	CatchUpSettle time.Duration
	// RepairInterval is the pause between two background anti-entropy
	// rounds (internal/repair.Background) over the partitions the node
	// leads, run with Consul and without SkipLayout. 0 means
	// repair.DefaultInterval; negative turns the background repair off.
	RepairInterval time.Duration
	// RepairRate bounds a background round in records per second. 0 means
	// no bound (the flag's default is repair.DefaultBackgroundRate).
	RepairRate int
	// Curve is the CURVE identity the node uses as a client of the nodes
	// (catch-up, background repair, its own health check): an admin key of
	// theirs. Default: with Node.Curve set, the node's own keypair (which
	// every node sharing it admits as an admin); else nil, plaintext.
	Curve *curve.Client
	// Metrics serves the node's Prometheus metrics over HTTP at /metrics
	// on MetricsPort of the node's bind address, registered in Consul as
	// Meta "metrics", and turns on the node's histograms
	// (node.Config.Metrics). Default false.
	Metrics bool
	// MetricsPort is the port of the metrics endpoint; 0 binds a free one.
	// Default 0.
	MetricsPort int
	// Logger receives lifecycle events. Default: discard.
	Logger *slog.Logger
}

// ErrPortTaken means a node could not bind because its port is in use: the
// same command would fail the same way, so a supervisor does not restart
// it.
var ErrPortTaken = errors.New("port already in use")

// StoreError means the node's data directory could not be opened.
type StoreError struct {
	Dir string
	Err error
}

func (e *StoreError) Error() string { return "data directory " + e.Dir + ": " + e.Err.Error() }

func (e *StoreError) Unwrap() error { return e.Err }

// withDefaults returns c with the zero fields that have a default filled.
func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics {
		c.Node.Metrics = true
	}
	if c.CatchUpSettle == 0 {
		c.CatchUpSettle = DefaultCatchUpSettle
	}
	return c
}

// curveClient returns the CURVE identity of the node as a client (Curve or
// its default); nil without CURVE.
func (c Config) curveClient() *curve.Client {
	if c.Curve != nil || c.Node.Curve == nil {
		return c.Curve
	}
	return &curve.Client{Key: c.Node.Curve.Key}
}

// catchesUp reports whether the run reads the cluster's settings to check
// a durable node's data against the layout and, with R > 0, to catch up.
func (c Config) catchesUp() bool {
	return c.Consul != nil && !c.SkipLayout
}
