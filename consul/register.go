package consul

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/consul/api"
)

// Registration defaults.
const (
	// DefaultTTL is how long a node's health check stays passing without a
	// heartbeat. The registrar beats every TTL/3.
	DefaultTTL = 5 * time.Second
	// DefaultDeregisterAfter is how long an instance may stay critical before
	// the agent removes it. One minute is the smallest value Consul honours.
	DefaultDeregisterAfter = time.Minute
)

// Registration describes one node for Register.
type Registration struct {
	Name    string // service ID, e.g. "node-0"; required
	RepURL  string // request endpoint, tcp://host:port; required
	PullURL string // ingest endpoint, tcp://host:port; required
	Host    string // supervisor host that launched it; optional
	// TTL of the health check. Default DefaultTTL.
	TTL time.Duration
	// DeregisterAfter removes an instance that stays critical this long.
	// Default DefaultDeregisterAfter.
	DeregisterAfter time.Duration
	// Refresh, when not nil, is asked before every heartbeat for the
	// current endpoint URLs; when they differ from the registered ones (the
	// host's address changed) the node registers again with the new ones.
	Refresh func() (repURL, pullURL string, err error)
	// CatchingUp registers the node with Meta "ready" = "false": it takes
	// writes but must not be read from until SetReady. Default false: the
	// node is ready at once (Meta "ready" = "true").
	CatchingUp bool
	// Curve is the node's CURVE public key (Z85), registered as Meta
	// "curve". Default "": the node runs without CURVE (no Meta "curve").
	Curve string
	// MetricsPort, when not 0, is the port of the node's Prometheus
	// endpoint, served on the host of the request endpoint: Meta "metrics"
	// is its URL (http://host:port/metrics), following the request
	// endpoint's host when Refresh changes it. Default 0: no Meta
	// "metrics".
	MetricsPort int
}

// Registrar keeps one node registered: Run heartbeats its check and
// re-registers it if the agent forgot it; Deregister removes it.
type Registrar struct {
	c   *Client
	reg Registration
	// mu guards svc and reg.CatchingUp: SetReady runs beside Run.
	mu  sync.Mutex
	svc *api.AgentServiceRegistration
	// sending serialises the registrations sent to the agent, each reading
	// svc once it may send: the last one sent is the newest definition, so
	// a heartbeat's re-registration never lands after SetReady's with the
	// old Meta "ready" = "false".
	sending sync.Mutex
	// moved is set while the agent still holds endpoints the node has left:
	// a re-registration with the new ones failed and is retried on the
	// next beat, which does not report the node passing until it succeeds.
	moved bool
}

// CheckID returns the ID of the TTL check of the node called name.
func CheckID(name string) string { return "service:" + name }

// Register registers reg with the local agent, its check already passing:
// call it once the node's sockets are bound and serving. It fails with
// ErrNameTaken when a passing instance of the same name belongs to another
// process (a critical one, left by a dead process, is taken over).
func (c *Client) Register(ctx context.Context, reg Registration) (*Registrar, error) {
	if reg.TTL == 0 {
		reg.TTL = DefaultTTL
	}
	if reg.DeregisterAfter == 0 {
		reg.DeregisterAfter = DefaultDeregisterAfter
	}
	if reg.Name == "" {
		return nil, errors.New("consul: register: empty node name")
	}
	r := &Registrar{c: c, reg: reg}
	if err := r.setEndpoints(reg.RepURL, reg.PullURL); err != nil {
		return nil, err
	}
	if err := c.checkNameFree(ctx, reg.Name, reg.RepURL); err != nil {
		return nil, err
	}
	if err := r.register(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// setEndpoints builds the service definition for the given endpoints.
func (r *Registrar) setEndpoints(repURL, pullURL string) error {
	host, port, err := splitEndpoint(repURL)
	if err != nil {
		return fmt.Errorf("consul: register %s: request endpoint: %w", r.reg.Name, err)
	}
	if _, _, err := splitEndpoint(pullURL); err != nil {
		return fmt.Errorf("consul: register %s: ingest endpoint: %w", r.reg.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reg.RepURL, r.reg.PullURL = repURL, pullURL
	svc := &api.AgentServiceRegistration{
		ID:      r.reg.Name,
		Name:    r.c.cfg.Service,
		Address: host,
		Port:    port,
		Meta: map[string]string{
			MetaRep:   repURL,
			MetaPull:  pullURL,
			MetaHost:  r.reg.Host,
			MetaReady: strconv.FormatBool(!r.reg.CatchingUp),
		},
		Check: &api.AgentServiceCheck{
			CheckID:                        CheckID(r.reg.Name),
			Name:                           "zshard node " + r.reg.Name + " serving",
			TTL:                            r.reg.TTL.String(),
			Status:                         api.HealthPassing,
			DeregisterCriticalServiceAfter: r.reg.DeregisterAfter.String(),
		},
	}
	if r.reg.Curve != "" {
		svc.Meta[MetaCurve] = r.reg.Curve
	}
	if r.reg.MetricsPort != 0 {
		svc.Meta[MetaMetrics] = "http://" + net.JoinHostPort(host, strconv.Itoa(r.reg.MetricsPort)) + "/metrics"
	}
	r.svc = svc
	return nil
}

func (r *Registrar) register(ctx context.Context) error {
	r.sending.Lock()
	defer r.sending.Unlock()
	r.mu.Lock()
	svc := r.svc
	r.mu.Unlock()
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := r.c.api.Agent().ServiceRegisterOpts(svc, opts); err != nil {
		return r.c.wrapErr("registering "+r.reg.Name, err)
	}
	return nil
}

// checkNameFree fails if a passing instance called name exists anywhere in
// the catalog, unless it is a stale registration of this very endpoint on
// this agent: the caller has bound repURL, so whoever registered it before is
// gone (a crashed node restarted within its TTL). It cannot close the race of
// two processes starting at the same instant; the supervisors' claims
// (claim.go) do that.
func (c *Client) checkNameFree(ctx context.Context, name, repURL string) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	entries, _, err := c.api.Health().Service(c.cfg.Service, "", false, q)
	if err != nil {
		return c.wrapErr("looking up "+name, err)
	}
	// The agent keys services by ID across every service name: a node of
	// another service with this ID would be replaced by the registration.
	if other, _, err := c.api.Agent().Service(name, q); err == nil && other.Service != c.cfg.Service {
		return fmt.Errorf("%w: %s is the ID of an instance of service %q on this agent; "+
			"choose another name", ErrNameTaken, name, other.Service)
	}
	for _, e := range entries {
		if e.Service.ID != name || e.Checks.AggregatedStatus() != api.HealthPassing {
			continue
		}
		if e.Service.Meta[MetaRep] == repURL {
			// Read only now: it needs agent:read, which a restart within
			// the TTL is the only reason to ask for.
			self, err := c.api.Agent().NodeName()
			if err != nil {
				return c.wrapErr("reading the agent's node name", err)
			}
			if e.Node.Node == self {
				continue
			}
		}
		return fmt.Errorf("%w: %s is passing on agent %s with request endpoint %s; "+
			"stop that process or choose another name", ErrNameTaken, name, e.Node.Node, e.Service.Meta[MetaRep])
	}
	return nil
}

// Run heartbeats the check every TTL/3 until ctx is done. Before each beat
// it calls healthy: nil marks the check passing, an error marks it critical
// with the error as output. If the agent no longer knows the check (it was
// restarted, or it reaped the instance), Run registers the node again.
// Failures are logged and retried on the next beat.
func (r *Registrar) Run(ctx context.Context, healthy func() error) {
	tick := time.NewTicker(r.reg.TTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		r.Beat(ctx, healthy())
	}
}

// Beat reports one health result: nil is passing, an error critical. It
// gives up after TTL/3, so a dead connection cannot stall the heartbeats.
func (r *Registrar) Beat(ctx context.Context, health error) {
	ctx, cancel := context.WithTimeout(ctx, max(r.reg.TTL/3, time.Second))
	defer cancel()
	if r.reg.Refresh != nil {
		rep, pull, err := r.reg.Refresh()
		if err != nil {
			r.c.log.Warn("cannot determine the node's endpoints", "node", r.reg.Name, "err", err)
		} else if r.moved || rep != r.reg.RepURL || pull != r.reg.PullURL {
			if err := r.setEndpoints(rep, pull); err != nil {
				r.c.log.Warn("new endpoints rejected", "node", r.reg.Name, "err", err)
			} else if err := r.register(ctx); err != nil {
				// The agent still advertises the old endpoints: no passing
				// beat for them (the check runs out and turns critical)
				// until a later beat registers the new ones.
				r.moved = true
				r.c.log.Warn("re-registration with new endpoints failed; retrying on the next beat", "node", r.reg.Name, "err", err)
				return
			} else {
				r.moved = false
				r.c.log.Info("re-registered with new endpoints", "node", r.reg.Name, "rep", rep, "pull", pull)
			}
		}
	}
	status, output := api.HealthPassing, "serving"
	if health != nil {
		status, output = api.HealthCritical, health.Error()
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	err := r.c.api.Agent().UpdateTTLOpts(CheckID(r.reg.Name), output, status, q)
	if err == nil || ctx.Err() != nil {
		return
	}
	if isTransport(err) {
		r.c.log.Warn("heartbeat failed: agent unreachable", "node", r.reg.Name, "err", err)
		return
	}
	if pe := r.c.permissionError("heartbeat of "+r.reg.Name, err); pe != nil {
		// The token lost its rights while the node ran (they were checked
		// at registration): the check turns critical, clients stop using
		// the node, and registering again would be refused as well.
		r.c.log.Error("heartbeat refused", "node", r.reg.Name, "err", pe)
		return
	}
	// The agent answered but does not know the check: it forgot us.
	if err := r.register(ctx); err != nil {
		r.c.log.Warn("re-registration failed", "node", r.reg.Name, "err", err)
		return
	}
	r.c.log.Info("re-registered with the agent", "node", r.reg.Name, "agent", r.c.cfg.Addr)
	if health != nil {
		_ = r.c.api.Agent().UpdateTTLOpts(CheckID(r.reg.Name), output, status, q)
	}
}

// SetReady registers the node again with Meta "ready" = "true", once it
// has caught up: from then on clients read from it.
func (r *Registrar) SetReady(ctx context.Context) error {
	r.mu.Lock()
	r.reg.CatchingUp = false
	svc := *r.svc // copied: a registration in flight keeps its own
	svc.Meta = maps.Clone(svc.Meta)
	svc.Meta[MetaReady] = "true"
	r.svc = &svc
	r.mu.Unlock()
	return r.register(ctx)
}

// Deregister removes the node from the catalog. Call it on graceful
// shutdown, after the node stopped taking requests.
func (r *Registrar) Deregister(ctx context.Context) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	if err := r.c.api.Agent().ServiceDeregisterOpts(r.reg.Name, q); err != nil {
		return r.c.wrapErr("deregistering "+r.reg.Name, err)
	}
	return nil
}

// splitEndpoint parses tcp://host:port.
func splitEndpoint(u string) (string, int, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", 0, err
	}
	if p.Scheme != "tcp" {
		return "", 0, fmt.Errorf("%q: want tcp://host:port", u)
	}
	host, portStr, err := net.SplitHostPort(p.Host)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", u, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", u)
	}
	return host, port, nil
}
