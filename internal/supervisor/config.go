package supervisor

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/zshard/zshard/consul"
)

// Default ports: node-<i> binds its request endpoint on DefaultBaseRequestPort+i
// and its ingest endpoint on DefaultBaseIngestPort+i; other names get free ports.
const (
	DefaultBaseRequestPort = 2000
	DefaultBaseIngestPort  = 2100
	// DefaultBaseMetricsPort places node-<i>'s metrics endpoint on
	// DefaultBaseMetricsPort+i.
	DefaultBaseMetricsPort = 2200
	// DefaultMetricsPort is the port of `server_consumer N`'s own metrics
	// endpoint.
	DefaultMetricsPort = 2300
)

// Exit codes of a node process that tell the supervisor not to restart it:
// the same command would fail the same way.
const (
	ExitUsage     = 2 // bad flags or configuration
	ExitPortTaken = 3 // a port is in use (noderun.ErrPortTaken)
	// ExitPermission: a Consul ACL refused the node (consul.ErrPermissionDenied).
	// The supervisor stops too: its nodes share one token.
	ExitPermission = 4
)

// Config configures a supervisor. Zero values mean the documented defaults.
type Config struct {
	// Consul is the membership client. Required.
	Consul *consul.Client
	// Host names this supervisor in claims and in add signals that target a
	// host. Default: the OS hostname.
	Host string
	// Nodes is N of `server_consumer N`: node-0..node-{N-1} get an add
	// signal if they have none (an existing remove signal is respected).
	Nodes int
	// Exe is the server_consumer executable launched for each node, as
	// `Exe node --name ...`. Default: this process's executable.
	Exe string
	// NodeArgs are extra flags passed to every node process (bind address,
	// limits, log level).
	NodeArgs []string
	// DataDir, when set, makes the nodes durable: each node process gets
	// `--data-dir <DataDir>/<name>`, so a restarted node reopens its own
	// data. Default "": nodes keep their data in memory.
	DataDir string
	// BaseRequestPort and BaseIngestPort place node-<i>. Default 2000/2100.
	BaseRequestPort, BaseIngestPort int
	// BaseMetricsPort places node-<i>'s Prometheus endpoint on
	// BaseMetricsPort+i (other names: a free port). Default
	// DefaultBaseMetricsPort; negative: the nodes serve no metrics.
	BaseMetricsPort int
	// MetricsPort, when not 0, is the port of the supervisor's own
	// Prometheus endpoint (nodes running, restarts, claims), on
	// MetricsBind. Default 0: none.
	MetricsPort int
	// MetricsBind is the address the supervisor's metrics endpoint binds.
	// Default "127.0.0.1".
	MetricsBind string
	// StopTimeout is how long a node gets to exit after SIGTERM before it is
	// killed. Default 10s.
	StopTimeout time.Duration
	// RestartMin and RestartMax bound the backoff between restarts of a
	// crashing node. Default 500ms and 30s.
	RestartMin, RestartMax time.Duration
	// StableAfter: a node that ran this long before crashing is restarted
	// after RestartMin again. Default 30s.
	StableAfter time.Duration
	// Stdout and Stderr receive the node processes' output. Default: this
	// process's.
	Stdout, Stderr io.Writer
	// Logger receives the supervisor's events. Default: discard.
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Consul == nil {
		return errors.New("supervisor: no Consul client")
	}
	if c.Nodes < 0 {
		return fmt.Errorf("supervisor: %d nodes", c.Nodes)
	}
	if c.Host == "" {
		c.Host = hostname()
	}
	if c.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return fmt.Errorf("supervisor: finding own executable: %w", err)
		}
		c.Exe = exe
	}
	c.BaseRequestPort = cmp.Or(c.BaseRequestPort, DefaultBaseRequestPort)
	c.BaseIngestPort = cmp.Or(c.BaseIngestPort, DefaultBaseIngestPort)
	c.BaseMetricsPort = cmp.Or(c.BaseMetricsPort, DefaultBaseMetricsPort)
	c.MetricsBind = cmp.Or(c.MetricsBind, "127.0.0.1")
	if c.MetricsPort < 0 || c.MetricsPort > 65535 {
		return fmt.Errorf("supervisor: metrics port %d is not a TCP port", c.MetricsPort)
	}
	c.StopTimeout = cmp.Or(c.StopTimeout, 10*time.Second)
	c.RestartMin = cmp.Or(c.RestartMin, 500*time.Millisecond)
	c.RestartMax = cmp.Or(c.RestartMax, 30*time.Second)
	c.StableAfter = cmp.Or(c.StableAfter, 30*time.Second)
	if c.Stdout == nil {
		c.Stdout = os.Stdout
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

var nodeIndex = regexp.MustCompile(`^node-([0-9]+)$`)

// Ports returns the request and ingest ports of a node name: base+i for
// node-<i> (i < 100), else 0 (a free port chosen at bind time).
func Ports(name string, baseReq, baseIngest int) (req, ingest int) {
	m := nodeIndex.FindStringSubmatch(name)
	if m == nil {
		return 0, 0
	}
	i, err := strconv.Atoi(m[1])
	if err != nil || i >= 100 {
		return 0, 0
	}
	return baseReq + i, baseIngest + i
}

// hostname returns this host's name for claims and Meta "host".
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// MetricsPort returns the port of a node name's metrics endpoint: base+i
// for node-<i> (i < 100), else 0 (a free port chosen at bind time).
func MetricsPort(name string, base int) int {
	port, _ := Ports(name, base, base)
	return port
}
