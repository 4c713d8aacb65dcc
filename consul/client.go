package consul

import (
	"cmp"
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
	// ErrPermissionDenied means a Consul ACL refused a call. The wrapping
	// *PermissionError names the permission the token lacked.
	ErrPermissionDenied = errors.New("permission denied by a Consul ACL")
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
	// TokenFile is a file holding the ACL token to send (its first line;
	// surrounding space is ignored). Default: the token file named by
	// CONSUL_HTTP_TOKEN_FILE, else the token in CONSUL_HTTP_TOKEN, else no
	// token (Consul's anonymous token).
	TokenFile string
	// TLS configures HTTPS to the agent. Default: the CONSUL_CACERT,
	// CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY and CONSUL_TLS_SERVER_NAME
	// variables.
	TLS TLSConfig
}

// TLSConfig configures HTTPS to the agent. HTTPS is used when Addr starts
// with https://, when CONSUL_HTTP_SSL is true, or when any field is set.
// Each field's zero value means the matching environment variable.
type TLSConfig struct {
	CAFile     string // PEM CA certificate(s) the agent's certificate must chain to (CONSUL_CACERT)
	CertFile   string // PEM client certificate, when the agent verifies clients (CONSUL_CLIENT_CERT)
	KeyFile    string // PEM key of CertFile (CONSUL_CLIENT_KEY)
	ServerName string // name to verify the agent's certificate against (CONSUL_TLS_SERVER_NAME)
}

func (t TLSConfig) set() bool { return t != TLSConfig{} }

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
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("consul: a TLS client certificate and its key go together: give both or neither")
	}
	return nil
}

// Client is zshard's handle on a Consul agent. It is safe for concurrent use.
type Client struct {
	cfg Config
	api *api.Client
	log *slog.Logger
	// tokenSource names the token sent, for PermissionError.
	tokenSource string
}

// New returns a client for cfg.Addr. It does not contact the agent; call
// Ping for an early, clear error when the agent is missing.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.fill()
	// DefaultConfig reads the CONSUL_* variables; the configuration's own
	// fields win over them.
	ac := api.DefaultConfig()
	ac.Address = cfg.Addr
	tokenSource, err := applyToken(ac, cfg.TokenFile)
	if err != nil {
		return nil, err
	}
	if t := cfg.TLS; t.set() {
		ac.Scheme = "https"
		ac.TLSConfig.CAFile = cmp.Or(t.CAFile, ac.TLSConfig.CAFile)
		ac.TLSConfig.CertFile = cmp.Or(t.CertFile, ac.TLSConfig.CertFile)
		ac.TLSConfig.KeyFile = cmp.Or(t.KeyFile, ac.TLSConfig.KeyFile)
		ac.TLSConfig.Address = cmp.Or(t.ServerName, ac.TLSConfig.Address)
	}
	for _, f := range []struct{ what, path string }{
		{"CA certificate", ac.TLSConfig.CAFile}, {"client certificate", ac.TLSConfig.CertFile}, {"client key", ac.TLSConfig.KeyFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return nil, fmt.Errorf("consul: TLS %s: %w", f.what, err)
		}
	}
	// A safety net under the per-call contexts: no request may hang on a
	// dead connection (a peer whose address changed answers nothing) for
	// longer than the longest blocking query plus Consul's jitter.
	hc, err := api.NewHttpClient(ac.Transport, ac.TLSConfig)
	if err != nil {
		return nil, fmt.Errorf("consul: TLS to the agent: %w", err)
	}
	hc.Timeout = maxRequestTime
	ac.HttpClient = hc
	c, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("consul: client for %s: %w", cfg.Addr, err)
	}
	return &Client{cfg: cfg, api: c, log: cfg.Logger, tokenSource: tokenSource}, nil
}

// applyToken sets the token ac sends, from tokenFile when given (the
// variables otherwise: the api client's own rules), and describes it.
func applyToken(ac *api.Config, tokenFile string) (source string, err error) {
	envFile := os.Getenv(api.HTTPTokenFileEnvName)
	switch {
	case tokenFile != "":
		source = "the token in " + tokenFile
	case envFile != "":
		tokenFile, source = envFile, "the token in "+api.HTTPTokenFileEnvName+"="+envFile
	case ac.Token != "":
		return "the token in " + api.HTTPTokenEnvName, nil
	default:
		return "the anonymous token (no token given: set " + api.HTTPTokenEnvName + ", " +
			api.HTTPTokenFileEnvName + " or --consul-token-file)", nil
	}
	data, err := os.ReadFile(tokenFile)
	if err != nil {
		return "", fmt.Errorf("consul: ACL token file: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" || strings.ContainsAny(token, " \t\r\n") {
		return "", fmt.Errorf("consul: ACL token file %s: want one token on one line", tokenFile)
	}
	ac.Token, ac.TokenFile = token, tokenFile
	return source, nil
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
