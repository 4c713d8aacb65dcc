package consul

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// Sentinel errors. Callers test with errors.Is.
var (
	// ErrUnreachable means the Consul agent did not answer. The wrapping
	// *UnreachableError says where zshard looked and how to start an agent.
	ErrUnreachable = errors.New("consul agent not reachable")
	// ErrNameTaken means another live process holds the node name.
	ErrNameTaken = errors.New("node name already registered by another live process")
	// ErrConflict means a check-and-set lost to a concurrent writer more
	// times than the caller allowed.
	ErrConflict = errors.New("concurrent update conflict")
	// ErrNotFound means a key the caller asked for does not exist.
	ErrNotFound = errors.New("not found")
)

// maxRequestTime bounds any HTTP request to the agent; see New.
const maxRequestTime = defaultWaitTime + defaultWaitTime/16 + 30*time.Second

// DefaultAddr is the agent address used when neither Config.Addr nor
// CONSUL_HTTP_ADDR is set.
const DefaultAddr = "127.0.0.1:8500"

// Config configures a Client. The zero value of each field means its default.
type Config struct {
	// Addr is the agent's HTTP address (host:port or a URL). Default: the
	// CONSUL_HTTP_ADDR environment variable, else DefaultAddr.
	Addr string
	// Service is the Consul service name nodes register under. Default "zshard".
	Service string
	// Prefix is the KV prefix for settings and signals. Default "zshard/".
	Prefix string
	// Logger receives watch errors and re-registrations. Default: discard.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	var c Config
	c.fill()
	return c
}

func (c *Config) fill() {
	if c.Addr == "" {
		c.Addr = os.Getenv("CONSUL_HTTP_ADDR")
	}
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Service == "" {
		c.Service = "zshard"
	}
	if c.Prefix == "" {
		c.Prefix = "zshard/"
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		c.Prefix += "/"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	c.fill()
	if strings.ContainsAny(c.Service, "/ ") {
		return fmt.Errorf("consul: service name %q must not contain '/' or spaces", c.Service)
	}
	if strings.HasPrefix(c.Prefix, "/") {
		return fmt.Errorf("consul: KV prefix %q must not start with '/'", c.Prefix)
	}
	return nil
}

// Client is zshard's handle on a Consul agent. It is safe for concurrent use.
type Client struct {
	cfg Config
	api *api.Client
	log *slog.Logger
}

// New returns a client for cfg.Addr. It does not contact the agent; call
// Ping for an early, clear error when the agent is missing.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	ac := api.DefaultConfig()
	ac.Address = cfg.Addr
	// A safety net under the per-call contexts: no request may hang on a
	// dead connection (a peer whose address changed answers nothing) for
	// longer than the longest blocking query plus Consul's jitter.
	hc, err := api.NewHttpClient(ac.Transport, ac.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("consul: http client: %w", err)
	}
	hc.Timeout = maxRequestTime
	ac.HttpClient = hc
	c, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("consul: client for %s: %w", cfg.Addr, err)
	}
	return &Client{cfg: cfg, api: c, log: cfg.Logger}, nil
}

// API returns the underlying hashicorp/consul/api client.
func (c *Client) API() *api.Client { return c.api }

// Config returns the client's configuration with defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// Ping checks that the agent answers and has a cluster leader. A failure is
// an *UnreachableError that tells the user how to start an agent.
func (c *Client) Ping(ctx context.Context) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	leader, err := c.api.Status().LeaderWithQueryOptions(q)
	if err != nil {
		return c.unreachable(err)
	}
	if leader == "" {
		return c.unreachable(errors.New("the agent answers but has no cluster leader yet"))
	}
	return nil
}

// UnreachableError explains a failed contact with the agent.
type UnreachableError struct {
	Addr   string // the address tried
	Source string // where the address came from
	Err    error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach Consul at %s (%s): %v\n"+
		"  start a local dev agent with `make consul` (or `consul agent -dev -bind 127.0.0.1 -client 127.0.0.1`),\n"+
		"  or point zshard at yours with CONSUL_HTTP_ADDR=host:port or the --consul flag",
		e.Addr, e.Source, e.Err)
}

func (e *UnreachableError) Unwrap() []error { return []error{ErrUnreachable, e.Err} }

func (c *Client) unreachable(err error) error {
	source := "the default"
	switch {
	case os.Getenv("CONSUL_HTTP_ADDR") == c.cfg.Addr:
		source = "from CONSUL_HTTP_ADDR"
	case c.cfg.Addr != DefaultAddr:
		source = "from the configuration"
	}
	return &UnreachableError{Addr: c.cfg.Addr, Source: source, Err: err}
}

// key returns the full KV key for a path relative to the prefix.
func (c *Client) key(rel string) string { return c.cfg.Prefix + rel }
