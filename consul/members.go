package consul

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// Service Meta keys a node registers with. They are part of the Consul
// contract: scripts and lab clients read them.
const (
	MetaRep  = "rep"  // request endpoint URL, e.g. tcp://127.0.0.1:2000
	MetaPull = "pull" // ingest endpoint URL, e.g. tcp://127.0.0.1:2100
	MetaHost = "host" // the supervisor host that launched the node, if any
	// MetaReady is "false" while a durable node catches up from its
	// replicas after a restart: it takes writes but may hold stale values,
	// so clients must not read from it. Absent or any other value: ready.
	MetaReady = "ready"
	// MetaCurve is the node's CURVE public key (Z85, 40 characters) when it
	// runs CURVE; clients must connect with CURVE, expecting this key.
	// Absent: the node is plaintext.
	MetaCurve = "curve"
	// MetaMetrics is the URL of the node's Prometheus metrics, e.g.
	// http://127.0.0.1:2200/metrics; absent when the node serves none.
	MetaMetrics = "metrics"
)

// Member is one passing instance of the zshard service.
type Member struct {
	Name    string // service ID = node name, e.g. "node-0"
	RepURL  string // request endpoint (Meta "rep")
	PullURL string // ingest endpoint (Meta "pull")
	Host    string // Meta "host"; empty for nodes started by hand
	Address string // service address (host of the request endpoint)
	Port    int    // service port (port of the request endpoint)
	Agent   string // Consul node (agent) the instance is registered on
	// Ready is false while the node catches up (Meta "ready" is "false"):
	// write to it, do not read from it.
	Ready bool
	// Curve is the node's CURVE public key (Meta "curve"); empty when the
	// node runs without CURVE.
	Curve string
	// MetricsURL is the node's Prometheus endpoint (Meta "metrics"); empty
	// when it serves none.
	MetricsURL string
}

// Members returns the instances of the service whose checks all pass,
// sorted by name.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	return readOnce(ctx, c, "reading members", c.members)
}

func (c *Client) members(q *api.QueryOptions) ([]Member, uint64, error) {
	return c.instances(q, true)
}

// Registered returns the names of every registered instance of the
// service, passing or not, sorted.
func (c *Client) Registered(ctx context.Context) ([]string, error) {
	all, err := readOnce(ctx, c, "reading registered instances", func(q *api.QueryOptions) ([]Member, uint64, error) {
		return c.instances(q, false)
	})
	names := make([]string, len(all))
	for i, m := range all {
		names[i] = m.Name
	}
	return names, err
}

// instances reads the instances of the service, only those whose checks
// all pass when passingOnly.
func (c *Client) instances(q *api.QueryOptions, passingOnly bool) ([]Member, uint64, error) {
	entries, meta, err := c.api.Health().Service(c.cfg.Service, "", passingOnly, q)
	if err != nil {
		return nil, 0, err
	}
	if meta.ResultsFilteredByACLs {
		return nil, 0, c.filteredError("reading the instances of service "+c.cfg.Service,
			"service:read and node:read", c.cfg.Service)
	}
	out := make([]Member, 0, len(entries))
	for _, e := range entries {
		s := e.Service
		out = append(out, Member{
			Name:       s.ID,
			RepURL:     s.Meta[MetaRep],
			PullURL:    s.Meta[MetaPull],
			Host:       s.Meta[MetaHost],
			Curve:      s.Meta[MetaCurve],
			Address:    s.Address,
			Port:       s.Port,
			Agent:      e.Node.Node,
			Ready:      s.Meta[MetaReady] != "false",
			MetricsURL: s.Meta[MetaMetrics],
		})
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.Name, b.Name) })
	return out, meta.LastIndex, nil
}

// WatchMembers calls fn with the passing members now and after every
// change, until ctx is cancelled (then it returns nil). fn runs on the
// watching goroutine. Errors are logged and retried with backoff, except
// an ACL refusal: it ends the watch with a *PermissionError (every Watch
// method does so).
func (c *Client) WatchMembers(ctx context.Context, fn func([]Member)) error {
	return watch(ctx, defaultWatch, refusals(c, "reading members", c.members), fn, c.logWatchErr("members"))
}

// readOnce runs read, one of the reads a watch repeats as a blocking query,
// once without blocking; a failure says what was being read.
func readOnce[T any](ctx context.Context, c *Client, what string, read func(*api.QueryOptions) ([]T, uint64, error)) ([]T, error) {
	v, _, err := read((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, c.wrapErr(what, err)
	}
	return v, nil
}

// wrapErr turns a transport failure into an *UnreachableError and adds
// context to anything else.
func (c *Client) wrapErr(what string, err error) error {
	if isTransport(err) {
		return c.unreachable(err)
	}
	if pe := c.permissionError(what, err); pe != nil {
		return pe
	}
	var pe *PermissionError
	if errors.As(err, &pe) {
		return err // already says what was refused
	}
	return fmt.Errorf("consul: %s: %w", what, err)
}

// isTransport reports whether err is a failure to talk to the agent at all
// (refused, reset, timed out), as opposed to an error status it answered with.
func isTransport(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue)
}

func (c *Client) logWatchErr(what string) func(error, time.Duration) {
	return func(err error, retry time.Duration) {
		c.log.Warn("consul watch failed; retrying", "watch", what, "err", c.wrapErr(what, err), "retry_in", retry.Round(time.Millisecond))
	}
}
